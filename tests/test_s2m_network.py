"""S2M network: checkpoint layout, golden vectors of the original code, light variant."""
from __future__ import annotations

import pytest
import torch

from helpers import assert_close_scaled, assert_labels_close
from model.aggregate import aggregate_wbg
from model.s2m import S2M
from weightgen import manifest_entries


def test_default_s2m_state_dict_matches_the_released_checkpoint_layout():
    state = S2M().state_dict()
    entries = manifest_entries('s2m')
    assert [(k, list(v.shape)) for k, v in state.items()] == [(e['name'], e['shape']) for e in entries]


def test_s2m_with_seed1_weights_reproduces_the_original_logits_and_hard_aggregation(golden, seed1_weights):
    data = golden('s2m')
    net = S2M().eval()
    net.load_state_dict(seed1_weights('s2m'), strict=True)
    with torch.no_grad():
        logits = net(data['inputs']['x'])
    assert_close_scaled(logits, data['outputs']['logits'])
    mask = aggregate_wbg(torch.sigmoid(logits), keep_bg=True, hard=True)
    expected = data['outputs']['aggregate_wbg_hard_keep_bg']
    assert_labels_close(mask.argmax(0), expected.argmax(0))


def test_light_s2m_maps_six_channels_to_one_logit_map_at_input_size():
    net = S2M(arch='resnet18', head_channels=16).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 6, 48, 80))
    assert out.shape == (2, 1, 48, 80)
    assert sum(p.numel() for p in net.parameters()) < 12_000_000


def test_s2m_rejects_input_without_six_channels():
    with pytest.raises(ValueError, match='6'):
        S2M(arch='resnet18', head_channels=16)(torch.zeros(1, 5, 32, 32))
