"""RITM predictor: golden probabilities (NoBRS), f-BRS-B objective and labels of the original code, bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import assert_labels_close, assert_prob_close
from evaluation.benchmark_ritm import time_clicks
from inference.interaction.ritm import RITMPredictor
from inference.interaction.ritm_zoom import box_iou, holds_positives, object_roi, zoom_step
from model.ritm import HRNetISModel
from weightgen import MANIFESTS

THRESH = 0.49
pytestmark = pytest.mark.usefixtures('one_torch_thread')  # as the golden run; L-BFGS's small passes like it too


@pytest.fixture(scope='module')
def net(seed1_weights):
    constructor = json.loads((MANIFESTS / 'ritm_h18s.json').read_text())['constructor']
    net = HRNetISModel(**constructor).eval()
    net.load_state_dict(seed1_weights('ritm_h18s'), strict=True)
    return net


def golden_clicks(data: dict) -> list[tuple]:
    return [tuple(row) for row in data['pred_clicks'].tolist()]


def test_nobrs_probabilities_after_every_click_match_the_original(golden, net):
    data = golden('ritm')
    predictor = RITMPredictor(net, 'NoBRS')
    predictor.set_input_image(data['pred_image'].numpy())
    clicks = golden_clicks(data)
    for k in range(len(clicks)):
        probs = predictor.get_prediction(clicks[:k + 1])
        assert probs.dtype == np.float32
        assert_prob_close(torch.from_numpy(probs), data['pred_NoBRS_probs'][k])


def test_fbrs_objective_at_the_recorded_points_and_labels_after_every_click(golden, net):
    """One free-running f-BRS-B session: labels after each click within the chaos tolerances (0.5 % after clicks
    1-2, 15 % after 3-4); before clicks 2-4, the objective at the original's L-BFGS start point and at an offset,
    evaluated from the original's state (its previous prediction swapped in, then restored)."""
    data = golden('ritm')
    predictor = RITMPredictor(net, 'f-BRS-B', prob_thresh=THRESH)
    predictor.set_input_image(data['pred_image'].numpy())
    clicks = golden_clicks(data)
    for k in range(len(clicks)):
        if k > 0:
            own = predictor.prev_prediction
            predictor.prev_prediction = data['pred_f-BRS-B_probs'][k - 1]
            for at, x in (('x0', data[f'fbrs_opt{k - 1}_x0']),
                          ('x0_plus_delta', data[f'fbrs_opt{k - 1}_x0'] + data[f'fbrs_opt{k - 1}_delta'])):
                value, grad = predictor.fbrs_objective(clicks[:k + 1], x.double().numpy())
                ref_value, ref_grad = data[f'fbrs_opt{k - 1}_f_at_{at}'].item(), data[f'fbrs_opt{k - 1}_grad_at_{at}']
                assert abs(value - ref_value) <= 1e-4 * abs(ref_value), (k, at, value, ref_value)
                err = (torch.from_numpy(grad) - ref_grad.double()).abs().max().item()
                assert err <= 1e-3 * ref_grad.abs().max().item(), (k, at, err)
            predictor.prev_prediction = own
        probs = predictor.get_prediction(clicks[:k + 1])
        assert_labels_close(probs > THRESH, data['pred_f-BRS-B_probs'][k].numpy() > THRESH,
                            max_fraction=0.005 if k < 2 else 0.15)


@pytest.fixture()
def small():
    """A small random image for behaviour checks (zoom-in off where f-BRS runs: it would enlarge it to 400 px)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)


def test_fbrs_runs_the_backbone_once_per_click_and_reuses_it_past_eight_clicks(net, small, monkeypatch):
    calls = []
    backbone = net.backbone_features
    monkeypatch.setattr(net, 'backbone_features', lambda *a: calls.append(1) or backbone(*a))
    predictor = RITMPredictor(net, 'f-BRS-B', zoom_in=False)
    predictor.set_input_image(small)
    clicks = [(True, 20, 28), (False, 3, 3)] + [(i % 2 == 0, 5 + 3 * i, 40) for i in range(8)]
    for k in range(1, len(clicks) + 1):
        before = len(calls)
        predictor.get_prediction(clicks[:k])
        assert len(calls) - before == (1 if k <= 8 else 0), k


def test_fbrs_objective_changes_no_state(net, small):
    clicks = [(True, 20, 28), (False, 3, 40), (True, 30, 10)]
    a, b = RITMPredictor(net, 'f-BRS-B', zoom_in=False), RITMPredictor(net, 'f-BRS-B', zoom_in=False)
    for p in (a, b):
        p.set_input_image(small)
        p.get_prediction(clicks[:1])
    x = np.random.default_rng(1).normal(0, 0.05, 2 * net.feature_channels)
    first = a.fbrs_objective(clicks[:2], x)
    assert first[1].shape == (540,) and first[1].dtype == np.float64 and np.abs(first[1]).max() > 0
    assert a.fbrs_objective(clicks[:2], x)[0] == first[0]
    for k in (2, 3):
        np.testing.assert_array_equal(a.get_prediction(clicks[:k]), b.get_prediction(clicks[:k]))


def test_previous_prediction_is_an_input_and_is_replaced_by_each_prediction(net, small):
    predictor = RITMPredictor(net, 'NoBRS')
    predictor.set_input_image(small)
    assert predictor.prev_prediction is None
    plain = predictor.get_prediction([(True, 20, 28)])
    assert torch.equal(predictor.prev_prediction, torch.from_numpy(plain))
    predictor.set_input_image(small)
    predictor.prev_prediction = np.ones((1, 1, 40, 56), np.float32)
    assert not np.allclose(predictor.get_prediction([(True, 20, 28)]), plain, atol=1e-3)


def test_bad_input_gives_clear_errors(net, small):
    predictor = RITMPredictor(net)
    with pytest.raises(ValueError, match='call set_input_image first'):
        predictor.get_prediction([(True, 1, 1)])
    with pytest.raises(ValueError, match='uint8 RGB image'):
        predictor.set_input_image(small.astype(np.float32))
    predictor.set_input_image(small)
    with pytest.raises(ValueError, match='no clicks'):
        predictor.get_prediction([])
    with pytest.raises(ValueError, match=r'point \(x=56, y=3\) is outside the 56x40 image'):
        predictor.get_prediction([(True, 3, 56)])
    with pytest.raises(ValueError, match='soft mask'):
        predictor.prev_prediction = np.zeros((40, 55))
    predictor.get_prediction([(True, 3, 5)])
    with pytest.raises(ValueError, match='must start with the 1 clicks given so far'):
        predictor.get_prediction([(True, 4, 5), (False, 9, 9)])
    with pytest.raises(ValueError, match='brs_mode'):
        RITMPredictor(net, 'f-BRS-C')
    with pytest.raises(ValueError, match="needs brs_mode='f-BRS-B'"):
        predictor.fbrs_objective([(True, 3, 5), (True, 1, 1)], np.zeros(540))
    predictor = RITMPredictor(net, 'f-BRS-B')
    predictor.set_input_image(small)
    with pytest.raises(ValueError, match='270 scales then as many biases'):
        predictor.fbrs_objective([(True, 3, 5), (True, 1, 1)], np.zeros(3))


def test_zoom_in_box_holds_mask_and_positive_clicks_and_is_kept_while_it_fits():
    mask = np.zeros((300, 500), bool)
    mask[100:150, 200:260] = True
    box = object_roi(mask, [(True, 120, 300), (False, 5, 5)])
    assert box == (24, 224, 150, 350)  # 51x101 px grown to 200 around (124.5, 250), halves rounded to even
    assert holds_positives(box, [(True, 120, 300)]) and not holds_positives(box, [(True, 225, 300)])
    assert box_iou(box, box) == 1 and box_iou(box, (0, 24, 0, 149)) == 0
    probs = torch.from_numpy(mask.astype(np.float32))
    assert zoom_step(None, probs, [(True, 120, 230)]).crop is None  # the first click is never zoomed
    step = zoom_step(None, probs, [(True, 120, 230), (True, 130, 240)])
    assert step.changed and step.crop == step.roi
    kept = zoom_step(step.roi, probs, [(True, 120, 230), (True, 130, 240), (False, 10, 10)])
    assert kept.crop == step.roi and not kept.changed
    assert zoom_step(step.roi, probs * 0, [(True, 120, 230), (True, 130, 240)]).crop is None


def test_click_benchmark_times_both_modes_and_counts_one_backbone_pass_per_click():
    torch.manual_seed(0)
    light = HRNetISModel(width=4, ocr_width=4, small=True, with_aux_output=True, use_leaky_relu=True,
                         use_rgb_conv=False, use_disks=True, norm_radius=5, with_prev_mask=True).eval()
    nobrs, fbrs = (time_clicks(light, mode, 32, 48) for mode in ('NoBRS', 'f-BRS-B'))
    assert (nobrs.size, nobrs.clicks) == ('32x48', 3) and nobrs.ms_per_click > 0 and fbrs.cpu_ms_per_click > 0
    assert nobrs.backbone_passes_per_click == nobrs.head_passes_per_click == 1
    assert fbrs.backbone_passes_per_click == 1 and fbrs.head_passes_per_click > 1  # L-BFGS re-runs the head only
