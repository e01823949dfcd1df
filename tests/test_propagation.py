"""Behaviour of the propagation network beyond the golden vectors: top-k, small memories, light variant."""
import math

import pytest
import torch

from model.propagation import PropagationNetwork
from model.propagation.memory import MemoryReader, topk_weights


def test_top_k_keeps_exactly_k_normalised_entries_per_query_position():
    affinity = torch.randn(2, 30, 200)  # [B, HW (query), THW (memory)]
    w = topk_weights(affinity, 50)
    assert ((w > 0).sum(-1) == 50).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 30))
    kept = torch.topk(affinity, 50, dim=-1).indices
    assert torch.equal(torch.sort(kept, -1).values, torch.sort(torch.nonzero(w > 0)[:, 2].view(2, 30, 50), -1).values)


def test_top_k_weights_are_a_softmax_over_the_kept_entries():
    affinity = torch.randn(1, 4, 80)
    w = topk_weights(affinity, 10)
    values, idx = torch.topk(affinity, 10, dim=-1)
    torch.testing.assert_close(w.gather(-1, idx), torch.softmax(values, -1))


def test_top_k_at_least_memory_size_equals_full_softmax():
    affinity = torch.randn(1, 6, 40)
    torch.testing.assert_close(topk_weights(affinity, 40), torch.softmax(affinity, -1))
    torch.testing.assert_close(topk_weights(affinity, None), torch.softmax(affinity, -1))


def test_memory_smaller_than_k_positions_uses_all_positions_instead_of_crashing():
    # 96x128 pads to 6x8 = 48 < 50 memory positions: the original's torch.topk raises here.
    reader_topk, reader_full = MemoryReader(top_k=50), MemoryReader(top_k=None)
    mk, mv, qk = torch.randn(2, 16, 1, 6, 8), torch.randn(2, 32, 1, 6, 8), torch.randn(1, 16, 6, 8)
    torch.testing.assert_close(reader_topk(mk, mv, qk), reader_full(mk, mv, qk))


def test_memory_read_of_each_object_is_independent_of_the_others():
    reader = MemoryReader(top_k=5)
    mk, mv, qk = torch.randn(3, 8, 2, 4, 5), torch.randn(3, 6, 2, 4, 5), torch.randn(1, 8, 4, 5)
    batched = reader(mk, mv, qk)
    single = torch.cat([reader(mk[i:i + 1], mv[i:i + 1], qk) for i in range(3)])
    torch.testing.assert_close(batched, single)


def test_memory_read_scales_affinity_by_inverse_sqrt_key_dim():
    mk, qk = torch.randn(1, 4, 1, 1, 2), torch.randn(1, 4, 1, 1)
    mv = torch.tensor([[[[[1.0, 0.0]]]]])  # value 1 at memory position 0, 0 at position 1
    a = (mk[0, :, 0, 0, :] * qk[0, :, 0, :]).sum(0) / math.sqrt(4)
    expected = torch.softmax(a, 0)[0]
    assert MemoryReader(None)(mk, mv, qk).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.fixture(scope='module')
def light_net():
    torch.manual_seed(0)
    return PropagationNetwork(arch='resnet18', key_dim=32, value_dim=64, decoder_dims=(64, 32, 16)).eval()


def test_light_variant_segments_every_object_at_full_resolution(light_net):
    frame, masks = torch.randn(1, 3, 64, 96), (torch.rand(3, 1, 64, 96) > 0.5).float()
    with torch.no_grad():
        k, v = light_net.memorize(frame, masks)
        assert k.shape == (3, 32, 1, 4, 6) and v.shape == (3, 64, 1, 4, 6)
        f16, f8, f4, k16, v16 = light_net.get_query_values(frame)
        prob = light_net.segment_with_query(k, v, f16, f8, f4, k16, v16)
    assert prob.shape == (3, 1, 64, 96) and ((prob >= 0) & (prob <= 1)).all()


def test_others_channel_is_the_sum_of_the_other_objects_masks(light_net):
    seen = []
    hook = light_net.mask_rgb_encoder.register_forward_hook(lambda m, args, out: seen.append(args))
    masks = torch.stack([torch.full((1, 8, 16), float(i + 1)) for i in range(3)])  # object i has value i+1
    with torch.no_grad():
        light_net.memorize(torch.zeros(1, 3, 8, 16), masks)
    hook.remove()
    others = seen[0][2]
    assert others[:, 0, 0, 0].tolist() == [5.0, 4.0, 3.0]


def test_single_object_memory_encoder_takes_four_channels():
    net = PropagationNetwork(arch='resnet18', key_dim=16, value_dim=16, decoder_dims=(16, 16, 16), single_object=True)
    assert net.mask_rgb_encoder.conv1.weight.shape[1] == 4
    with torch.no_grad():
        k, _ = net.eval().memorize(torch.randn(1, 3, 32, 32), torch.rand(1, 1, 32, 32))
    assert k.shape == (1, 16, 1, 2, 2)


def test_calling_the_network_directly_points_to_the_right_api(light_net):
    with pytest.raises(RuntimeError, match='memorize'):
        light_net(torch.zeros(1, 3, 16, 16))


def test_default_network_is_the_faithful_one_with_top_k_50():
    net = PropagationNetwork()
    assert net.memory.top_k == 50
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == 53_685_953  # docs/mivos.md
