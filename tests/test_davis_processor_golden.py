"""DAVISProcessor reproduces MiVOS's DAVIS adapter over 8 robot rounds (golden davis_processor.pt).

The hard aggregation (logits x1000) of random-weight S2M outputs is chaotic: one near-tie pixel that flips in round 1
changes the next round's previous-mask input and the difference snowballs (1 -> 23 -> 145 px). So every round is
checked against the original given the original's state: our S2M mask is compared with the stored one, then the
stored mask is applied, exactly as the original did, and the returned labels are compared.
"""
import pytest
import torch

from helpers import assert_labels_close
from evaluation.davis import DAVISProcessor
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from model.s2m import S2M
from util.image import normalize_u8
from util.weights import load_weights


@pytest.fixture(scope='module')
def rounds(golden, seed1_weights):
    g = golden('davis_processor')
    nets = [load_weights(net().eval(), seed1_weights(name))
            for net, name in ((PropagationNetwork, 'propagation'), (FusionNet, 'fusion'), (S2M, 's2m'))]
    proc = DAVISProcessor(*nets, normalize_u8(g['frames_u8']).unsqueeze(0), g['config']['k'])
    out = []
    with torch.no_grad():
        for step in g['steps']:
            mask, idx = proc.to_mask(step['scribble'])
            propagates = proc.interacted_count in proc.schedule
            labels, hint, returned = proc.interact_mask(step['s2m_mask'], idx)
            out.append((step, mask, labels, hint, returned, propagates))
    return out


def test_schedule_propagates_after_interactions_3_6_and_8(rounds):
    assert [r[5] for r in rounds] == [s['propagated'] for s, *_ in rounds] == [False, False, True] * 2 + [False, True]


def test_frames_and_next_frame_hints_match(rounds):
    for step, _, _, hint, idx, _ in rounds:
        assert idx == step['returned_idx'] and hint == step['next_interact']


def test_s2m_masks_match_within_argmax_tolerance(rounds):
    for step, mask, *_ in rounds:
        assert_labels_close(mask.argmax(0), step['s2m_mask'].argmax(0))


def test_returned_labels_match_within_half_a_percent(rounds):
    for step, _, labels, *_ in rounds:
        assert_labels_close(torch.from_numpy(labels), step['out_masks'])
