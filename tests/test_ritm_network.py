"""RITM click model: released checkpoint layouts, golden forward of the original code, the RITM file loader."""
from __future__ import annotations

import pytest
import torch

from helpers import assert_close_scaled
from light_models import constructor, ritm_file
from model.ritm import HRNetISModel
from util.weights import CheckpointError, load_network, load_weights
from weightgen import manifest_entries

VARIANTS = ('ritm_h18s', 'ritm_h18', 'ritm_h32')
pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.mark.parametrize('variant', VARIANTS)
def test_every_variant_has_the_released_state_dict_names_shapes_and_order(variant):
    state = HRNetISModel(**constructor(variant)).state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == [(e['name'], e['shape'])
                                                              for e in manifest_entries(variant)]


def test_forward_reproduces_the_original_instances_and_aux_logits(golden, seed1_weights):
    data = golden('ritm')
    net = HRNetISModel(**constructor('ritm_h18s')).eval()
    net.load_state_dict(seed1_weights('ritm_h18s'), strict=True)
    with torch.no_grad():
        out = net(torch.cat([data['net_image'], data['net_prev_mask']], 1), data['net_points'])
    assert_close_scaled(out['instances'], data['net_instances'])
    assert_close_scaled(out['instances_aux'], data['net_instances_aux'])


def test_padding_rows_and_far_clicks_leave_the_output_unchanged(seed1_weights):
    net = HRNetISModel(**constructor('ritm_h18s')).eval()
    net.load_state_dict(seed1_weights('ritm_h18s'))
    x = torch.rand(1, 4, 40, 56)
    one = torch.tensor([[[10., 20., 0.], [-1., -1., -1.]]])
    padded = torch.tensor([[[10., 20., 0.], [-1., -1., -1.], [-1., -1., -1.], [-1., -1., -1.]]])
    with torch.no_grad():
        a, b = net(x, one)['instances'], net(x, padded)['instances']
        none = net(x, torch.full((1, 2, 3), -1.))['instances']
    assert a.shape == (1, 1, 40, 56)
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, none, atol=1e-3)  # the click matters


def test_official_ritm_file_builds_its_variant_and_loads_strictly(tmp_path, seed1_weights):
    torch.save(ritm_file('ritm_h18s', seed1_weights('ritm_h18s')), tmp_path / 'coco_lvis_h18s_itermask.pth')
    net = load_network('ritm', tmp_path / 'coco_lvis_h18s_itermask.pth')
    assert not net.training and net.feature_channels == 270
    assert torch.equal(net.maps_transform[3].scale, seed1_weights('ritm_h18s')['maps_transform.3.scale'])


def test_ritm_file_whose_weights_do_not_fit_its_config_names_the_keys(tmp_path, seed1_weights):
    torch.save(ritm_file('ritm_h18', seed1_weights('ritm_h18s')), tmp_path / 'bad.pth')
    with pytest.raises(CheckpointError, match=r'bad\.pth: .*does not fit HRNetISModel: missing keys'):
        load_network('ritm', tmp_path / 'bad.pth')


def test_unsupported_ritm_options_are_named(tmp_path, seed1_weights):
    file = ritm_file('ritm_h18s', seed1_weights('ritm_h18s'))
    file['config']['params']['clicks_groups'] = {'type': 'builtin', 'value': [1, 5], 'specified': True}
    torch.save(file, tmp_path / 'groups.pth')
    with pytest.raises(CheckpointError, match=r"options not supported: clicks_groups=\[1, 5\]"):
        load_network('ritm', tmp_path / 'groups.pth')
    file = ritm_file('ritm_h18s', seed1_weights('ritm_h18s'))
    file['config']['params']['use_rgb_conv']['value'] = True
    torch.save(file, tmp_path / 'rgb.pth')
    with pytest.raises(CheckpointError, match='use_rgb_conv=True .* not supported'):
        load_network('ritm', tmp_path / 'rgb.pth')


def test_ritm_and_mivos_files_swapped_give_one_line_errors(tmp_path, seed1_weights):
    torch.save(seed1_weights('fusion'), tmp_path / 'fusion.pth')
    torch.save(ritm_file('ritm_h18s', seed1_weights('ritm_h18s')), tmp_path / 'ritm.pth')
    with pytest.raises(CheckpointError, match='fusion.pth: not a RITM click-model file') as e:
        load_network('ritm', tmp_path / 'fusion.pth')
    assert '\n' not in str(e.value)
    for kind in ('s2m', 'propagation', 'fusion'):
        with pytest.raises(CheckpointError, match='ritm.pth: this is a RITM click-model file') as e:
            load_network(kind, tmp_path / 'ritm.pth')
        assert '\n' not in str(e.value)
    with pytest.raises(CheckpointError, match='RITM click-model file'):
        load_weights(HRNetISModel(**constructor('ritm_h18s')), tmp_path / 'ritm.pth')
