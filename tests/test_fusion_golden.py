"""FusionNet reproduces the original (golden vectors) and loads the official key layout strictly."""
import torch

from helpers import assert_close_scaled
from model.fusion import FusionNet
from util.weights import load_weights


def test_fusion_logits_match_original(golden, seed1_weights):
    net = load_weights(FusionNet().eval(), seed1_weights('fusion'))
    g = golden('fusion')
    with torch.no_grad():
        out = net(**g['inputs'])
    assert_close_scaled(out, g['outputs']['logits'], rel=1e-5)


def test_fusion_has_the_official_39905_parameters_in_manifest_order(seed1_weights):
    net = FusionNet()
    assert list(net.state_dict()) == list(seed1_weights('fusion'))
    assert sum(p.numel() for p in net.parameters()) == 39_905


def test_time_planes_follow_old_then_new_order():
    net = FusionNet().eval()
    args = [torch.zeros(1, 3, 8, 8), torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), torch.zeros(1, 2, 8, 8)]
    with torch.no_grad():
        a = net(*args, torch.tensor([[1.0, 0.0]]))
        net.conv1[0].weight[:, 7].zero_()  # channel 7 = nc
        b = net(*args, torch.tensor([[1.0, 0.0]]))
    assert not torch.equal(a, b)
