"""Behaviour of InferenceCore on small generated videos with a light network."""
import numpy as np
import pytest
import torch

from accel import AcceleratedBackend
from inference import InferenceCore
from inference.prob_store import UINT16_MAX_ERROR
from model.fusion import FusionNet
from util.tensor_util import one_hot, unpad


@pytest.fixture(scope='module')
def nets():
    from model.propagation import PropagationNetwork
    torch.manual_seed(0)
    prop = PropagationNetwork(arch='resnet18', key_dim=16, value_dim=32, decoder_dims=(32, 16, 16)).eval()
    return prop, FusionNet().eval()


def video(t=6, h=40, w=56, seed=0):
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def square_mask(k=2, h=40, w=56, absent=()):
    labels = torch.zeros(h, w, dtype=torch.long)
    for obj in range(1, k + 1):
        if obj not in absent:
            labels[4 + 10 * obj:12 + 10 * obj, 8 * obj:8 * obj + 12] = obj
    return one_hot(labels, k), labels


BACKEND = AcceleratedBackend()  # shared: cores compared bit for bit make the same conv choices


def make(nets, t=6, k=2, **kw):
    return InferenceCore(*nets, video(t), k, **{'backend': BACKEND, **kw})


@torch.no_grad()
def test_single_frame_video_returns_the_interaction_itself(nets):
    core = make(nets, t=1)
    mask, labels = square_mask()
    out = core.interact(mask, 0)
    assert out.shape == (1, 40, 56) and np.array_equal(out[0], labels.numpy())


@torch.no_grad()
def test_first_interaction_labels_every_frame_and_keeps_the_interacted_one(nets):
    core = make(nets)
    mask, labels = square_mask()
    out = core.interact(mask, 2)
    assert out.shape == (6, 40, 56) and out.dtype == np.uint8
    assert np.array_equal(out[2], labels.numpy())
    assert set(np.unique(out)) <= {0, 1, 2}
    total = unpad(core.prob.sum(0), core.pad)  # the padding of the interacted frame stays 0, as in the original
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=3 * UINT16_MAX_ERROR)  # 3 stored channels


@torch.no_grad()
def test_object_absent_in_the_interacted_frame_is_handled(nets):
    core = make(nets)
    mask, labels = square_mask(absent=(2,))
    out = core.interact(mask, 0)
    assert np.array_equal(out[0], labels.numpy())
    assert (out[0] != 2).all()


@torch.no_grad()
def test_interacting_twice_on_the_same_frame_adds_memory_and_keeps_the_new_mask(nets):
    core = make(nets)
    core.interact(square_mask()[0], 3)
    mask2, labels2 = square_mask(absent=(1,))
    out = core.interact(mask2, 3)
    assert core.certain_k.shape[2] == 2  # every interaction adds a memory frame
    assert np.array_equal(out[3], labels2.numpy())


@torch.no_grad()
def test_interacting_on_the_last_frame_first_propagates_backwards_to_frame_zero(nets):
    core = make(nets)
    mask, labels = square_mask()
    core.interact(mask, 5)
    assert core.query_cache.misses == 5  # frames 4, 3, 2, 1, 0 were segmented
    assert (core.prob[0, :5] > 1e-6).any(dim=(1, 2, 3)).all()


@torch.no_grad()
def test_propagation_stops_before_previously_interacted_frames(nets):
    core = make(nets, t=8)
    core.interact(square_mask()[0], 0)
    core.interact(square_mask()[0], 6)
    before = core.prob.clone()
    core.interact(square_mask(absent=(2,))[0], 3)
    assert torch.equal(core.prob[:, 0], before[:, 0]) and torch.equal(core.prob[:, 6], before[:, 6])
    assert torch.equal(core.prob[:, 7], before[:, 7])  # beyond the interacted frame 6: untouched
    assert not torch.equal(core.prob[:, 4], before[:, 4])


@torch.no_grad()
@pytest.mark.parametrize('mode', ['diff-aware', 'linear', 'none'])
def test_fusion_modes_differ_only_between_interacted_frames(nets, mode):
    core = make(nets, t=8, fusion=mode)
    core.interact(square_mask()[0], 0)
    first = core.prob.clone()
    core.interact(square_mask(absent=(1,))[0], 7)
    assert core.prob.shape == first.shape
    plain = make(nets, t=8, fusion='none')
    plain.interact(square_mask()[0], 0)
    plain.interact(square_mask(absent=(1,))[0], 7)
    same = torch.equal(core.prob, plain.prob)
    assert same == (mode == 'none')


@torch.no_grad()
def test_linear_fusion_blends_by_temporal_distance(nets):
    core = make(nets, t=5, fusion='linear')
    core.interact(square_mask()[0], 0)
    old = core.prob[:, 1].clone()
    plain = make(nets, t=5, fusion='none')
    plain.interact(square_mask()[0], 0)
    plain.interact(square_mask(absent=(1,))[0], 4)
    core.interact(square_mask(absent=(1,))[0], 4)
    # frame 1: nc = 1/4 (near the old interaction at 0), so the new propagation weighs 1/4
    torch.testing.assert_close(core.prob[:, 1], 0.75 * old + 0.25 * plain.prob[:, 1],
                               rtol=0, atol=2 * UINT16_MAX_ERROR)  # both sides rounded to uint16 once


@torch.no_grad()
def test_update_mask_only_changes_the_shown_labels_but_not_the_state(nets):
    core = make(nets)
    core.interact(square_mask()[0], 0)
    prob = core.prob.clone()
    mask, labels = square_mask(absent=(1, 2))
    out = core.update_mask_only(mask, 2)
    assert (out[2] == 0).all() and torch.equal(core.prob, prob) and core.interacted == {0}


@torch.no_grad()
def test_query_features_are_computed_once_per_frame_and_the_cache_is_bounded(nets):
    core = make(nets, t=8, feature_cache_size=3)
    core.interact(square_mask()[0], 0)
    core.interact(square_mask()[0], 7)
    assert len(core.query_cache) == 3
    unbounded = make(nets, t=8, feature_cache_size=None)
    unbounded.interact(square_mask()[0], 0)
    unbounded.interact(square_mask()[0], 7)
    assert len(unbounded.query_cache) == 7 and unbounded.query_cache.hits == 6
    torch.testing.assert_close(core.prob, unbounded.prob)


@pytest.mark.parametrize('kwargs,match', [({'num_objects': 0}, 'num_objects'), ({'mem_freq': 0}, 'mem_freq'),
                                          ({'fusion': 'avg'}, 'fusion must be one of')])
def test_bad_settings_are_refused(nets, kwargs, match):
    args = {'num_objects': 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        InferenceCore(*nets, video(), **args)


def test_diff_aware_fusion_without_a_fusion_net_is_refused(nets):
    with pytest.raises(ValueError, match='needs a fusion_net'):
        InferenceCore(nets[0], None, video(), 2)


def test_mask_of_the_wrong_size_or_object_count_is_refused(nets):
    core = make(nets)
    with pytest.raises(ValueError, match=r'mask must be \[3,1,40,56\]'):
        core.interact(torch.zeros(3, 1, 40, 50), 0)
    with pytest.raises(ValueError, match='background first'):
        core.interact(torch.zeros(2, 1, 40, 56), 0)
    with pytest.raises(IndexError, match='outside the video'):
        core.interact(square_mask()[0], 6)


def test_images_of_the_wrong_layout_are_refused(nets):
    with pytest.raises(ValueError, match=r'\[T,H,W,3\]'):
        InferenceCore(*nets, torch.zeros(4, 3, 8, 8, dtype=torch.uint8), 1)


@torch.no_grad()
def test_forward_only_interaction_stops_before_the_stop_frame_and_leaves_earlier_frames(nets):
    core = make(nets, fusion='none')
    mask, labels = square_mask()
    untouched = core.prob.clone()
    out = core.interact(mask, 2, backward=False, stop=4)
    assert np.array_equal(out[2], labels.numpy())
    torch.testing.assert_close(core.prob[:, [0, 1, 4, 5]], untouched[:, [0, 1, 4, 5]])
    assert not torch.equal(core.prob[:, 3], untouched[:, 3])  # frame 3 was propagated
    assert (out[[0, 1, 4, 5]] == 0).all()
