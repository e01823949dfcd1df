"""S2M initialisation from a VainF DeepLabV3+ checkpoint file written by the test."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from model.s2m import S2M
from model.s2m.deeplab import DeepLabHeadV3Plus
from util.s2m_init import init_s2m_from_deeplab, s2m_state_from_deeplab


def _deeplab_21_class_state() -> dict[str, torch.Tensor]:
    """State dict of a randomly initialised 3-channel, 21-class DeepLabV3+ ResNet-50 (VainF layout)."""
    torch.manual_seed(0)
    net = S2M()
    net.backbone.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
    net.classifier = DeepLabHeadV3Plus(2048, 256, num_classes=21)
    return net.state_dict()


@pytest.fixture(scope='module')
def deeplab_file(tmp_path_factory) -> tuple[str, dict[str, torch.Tensor]]:
    state = _deeplab_21_class_state()
    path = tmp_path_factory.mktemp('deeplab') / 'best_deeplabv3plus_resnet50_voc_os16.pth'
    torch.save({'cur_itrs': 30000, 'model_state': state, 'best_score': np.float64(0.77)}, path)
    return str(path), state


def test_s2m_loaded_from_deeplab_keeps_rgb_weights_and_adds_orthogonal_scribble_channels(deeplab_file):
    path, deeplab = deeplab_file
    net = init_s2m_from_deeplab(S2M(), path, generator=torch.Generator().manual_seed(3))
    state = net.state_dict()
    for name, value in deeplab.items():
        if name not in ('backbone.conv1.weight', 'classifier.classifier.3.weight', 'classifier.classifier.3.bias'):
            assert torch.equal(state[name], value), name
    conv1 = state['backbone.conv1.weight']
    assert conv1.shape == (64, 6, 7, 7)
    assert torch.equal(conv1[:, :3], deeplab['backbone.conv1.weight'])
    extra = conv1[:, 3:].reshape(64, -1)  # [64, 147]: orthonormal rows
    assert torch.allclose(extra @ extra.T, torch.eye(64), atol=1e-5)


def test_final_classifier_becomes_one_unit_norm_output_with_zero_bias(deeplab_file):
    net = init_s2m_from_deeplab(S2M(), deeplab_file[0])
    weight = net.classifier.classifier[3].weight
    assert weight.shape == (1, 256, 1, 1)
    assert weight.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.equal(net.classifier.classifier[3].bias, torch.zeros(1))


def test_missing_checkpoint_file_is_reported_with_its_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        init_s2m_from_deeplab(S2M(arch='resnet18', head_channels=8), tmp_path / 'nothing.pth')


def test_checkpoint_without_model_state_is_rejected(tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save({'weights': torch.zeros(1)}, path)
    with pytest.raises(ValueError, match='model_state'):
        init_s2m_from_deeplab(S2M(arch='resnet18', head_channels=8), path)


def test_state_dict_that_already_has_six_channels_is_rejected():
    state = {'backbone.conv1.weight': torch.zeros(64, 6, 7, 7),
             'classifier.classifier.3.weight': torch.zeros(1, 256, 1, 1),
             'classifier.classifier.3.bias': torch.zeros(1)}
    with pytest.raises(ValueError, match='3 input channels'):
        s2m_state_from_deeplab(state)
