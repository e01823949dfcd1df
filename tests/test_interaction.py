"""Interactions on generated images: where maps are drawn, what changes, what does not, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import assert_labels_close
from inference.interaction import CanvasView, Click, ClickInteraction, FreehandInteraction, LocalInteraction, \
    PixelStroke, ScribbleInteraction, StrokeInteraction, scribbles_to_mask
from util.tensor_util import one_hot
from model.s2m import S2M
from util.image import normalize_u8
from util.tensor_util import pad_divide_by


class MapOracle(nn.Module):
    """A fixed [B,6,H,W] -> logits network: object where the positive map is set, not where the negative is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 20 * (x[:, 4:5] - x[:, 5:6]) + 10 * x[:, 3:4] - 5  # keeps the previous mask elsewhere


def _image(h: int = 40, w: int = 56) -> torch.Tensor:
    rng = np.random.default_rng(0)
    return normalize_u8(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))[None]


def _labels(h: int = 40, w: int = 56) -> torch.Tensor:
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[5:20, 5:25] = 1
    labels[22:35, 30:50] = 2
    return labels


def _stroke(points, object_id):
    return {'path': points, 'object_id': object_id}


# --- DAVIS scribbles -----------------------------------------------------------------------------------------

def test_scribbles_to_mask_reproduces_mivos_davis_s2m_masks(golden, seed1_weights):
    """Original DAVISProcessor.to_mask outputs; previous labels = the preceding golden S2M mask of that frame.

    Steps 3 and 6 cannot be checked: their previous labels come from propagation, whose padded border is not stored.
    """
    data = golden('davis_processor')
    net = S2M().eval()
    net.load_state_dict(seed1_weights('s2m'), strict=True)
    frames = normalize_u8(data['frames_u8'])
    steps = data['steps']
    for n in (0, 1, 4):  # (2, 5, 7 match as well; kept out for speed)
        step = steps[n]
        image, pad = pad_divide_by(frames[step['returned_idx']:step['returned_idx'] + 1])
        labels = torch.zeros(image.shape[-2:], dtype=torch.long) if n == 0 else steps[n - 1]['s2m_mask']
        mask = scribbles_to_mask(net, image, labels, step['scribble'], 2, pad=pad)
        assert mask.shape == step['s2m_mask'].shape
        assert_labels_close(mask.argmax(0), step['s2m_mask'].argmax(0))


def test_scribble_on_background_becomes_negative_for_every_object():
    strokes = [_stroke([[0.1, 0.5], [0.9, 0.5]], 0), _stroke([[0.5, 0.1], [0.5, 0.3]], 2)]
    pos, neg = ScribbleInteraction(None, strokes).encode(CanvasView.identity(21, 41), 2)
    assert pos.shape == neg.shape == (2, 1, 21, 41)
    row = 10  # y = 0.5 * 20, dilated to rows 9..11
    for k in range(2):
        assert neg[k, 0, row - 1:row + 2, 3:38].all() and not neg[k, 0, row + 2].any()
    assert not pos[0].any()
    assert pos[1, 0, 2:7, 20].all() and pos[1, 0, 1:8, 19:22].sum() == pos[1].sum()  # 3x3-dilated vertical segment
    assert neg[0, 0, 2:7, 20].all() and not neg[1, 0, 2:7, 20].any()


def test_empty_annotated_frame_leaves_labels_unchanged():
    labels = _labels()
    mask = scribbles_to_mask(MapOracle(), _image(), labels, {'scribbles': [[], []]}, 2, frame=1)
    assert torch.equal(mask, one_hot(labels, 2))


@pytest.mark.parametrize('scribble_dict, message', [
    ({'scribbles': [[], []]}, 'no strokes'),
    ({'frames': []}, '"scribbles" list'),
    ({'scribbles': [[_stroke([[0.5, 1.2]], 1)]]}, r'normalised to \[0, 1\]'),
    ({'scribbles': [[_stroke([[0.5, -0.1]], 1)]]}, r'normalised to \[0, 1\]'),
    ({'scribbles': [[_stroke([[0.5, 0.5]], 3)]]}, 'object_id 3'),
    ({'scribbles': [[_stroke([], 1)]]}, 'non-empty'),
])
def test_bad_scribbles_are_rejected_with_a_clear_message(scribble_dict, message):
    with pytest.raises(ValueError, match=message):
        scribbles_to_mask(MapOracle(), _image(), _labels(), scribble_dict, 2)


def test_scribble_frame_outside_the_dict_is_rejected():
    with pytest.raises(ValueError, match='frame 5'):
        scribbles_to_mask(MapOracle(), _image(), _labels(), {'scribbles': [[]]}, 2, frame=5)


def test_zero_objects_or_foreign_labels_are_rejected():
    scribbles = {'scribbles': [[_stroke([[0.5, 0.5]], 0)]]}
    with pytest.raises(ValueError, match='num_objects'):
        scribbles_to_mask(MapOracle(), _image(), torch.zeros(40, 56, dtype=torch.long), scribbles, 0)
    with pytest.raises(ValueError, match=r'0\.\.1'):
        scribbles_to_mask(MapOracle(), _image(), _labels(), scribbles, 1)
    with pytest.raises(ValueError, match='image size'):
        scribbles_to_mask(MapOracle(), _image(), _labels(20, 20), scribbles, 2)


# --- network runner ------------------------------------------------------------------------------------------

def test_light_s2m_turns_scribbles_into_a_hard_mask_with_background_first():
    torch.manual_seed(0)
    net = S2M(arch='resnet18', head_channels=8).eval()
    strokes = [_stroke([[0.2, 0.2], [0.4, 0.3]], 1), _stroke([[0.7, 0.7]], 2)]
    mask = ScribbleInteraction(net, strokes).apply(_image(48, 64), torch.zeros(48, 64, dtype=torch.long), 2)
    assert mask.shape == (3, 1, 48, 64)
    assert torch.allclose(mask.sum(0), torch.ones(1, 48, 64))


def test_scribbled_object_wins_where_it_was_scribbled_and_elsewhere_labels_stay():
    labels = _labels()
    strokes = [_stroke([[0.1, 0.9], [0.3, 0.9]], 2)]  # object 2 at row 35, x 5..16
    out = ScribbleInteraction(MapOracle(), strokes).apply(_image(), labels, 2).argmax(0)[0]
    assert (out[34:37, 6:16] == 2).all()
    changed = out != labels
    assert changed[34:37].sum() == changed.sum()


def test_current_labels_may_be_given_as_a_k_plus_one_channel_mask():
    labels = _labels()
    strokes = [_stroke([[0.5, 0.5]], 0)]
    a = ScribbleInteraction(MapOracle(), strokes).apply(_image(), labels, 2)
    b = ScribbleInteraction(MapOracle(), strokes).apply(_image(), one_hot(labels, 2), 2)
    assert torch.equal(a, b)


# --- GUI strokes ---------------------------------------------------------------------------------------------

def test_gui_stroke_is_a_thick_band_around_the_polyline_without_dilation():
    strokes = [PixelStroke([(10, 20), (40, 20)], 1), PixelStroke([(5, 5)], 0)]
    pos, neg = StrokeInteraction(None, strokes).encode(CanvasView.identity(40, 56), 2)
    band = pos[0, 0].nonzero()  # OpenCV's thickness-3 line: a band of half-width <= 2 px with round caps
    assert pos[0, 0, 19:22, 10:41].all()
    assert (band[:, 0] - 20).abs().max() <= 2 and band[:, 1].min() >= 8 and band[:, 1].max() <= 42
    assert torch.equal(neg[1, 0, 10:], pos[0, 0, 10:])
    assert neg[0, 0, 5, 5] == 1 and neg[1, 0, 5, 5] == 1 and not pos[:, 0, 5, 5].any()


def test_gui_stroke_outside_the_image_is_rejected():
    with pytest.raises(ValueError, match='outside the 56x40 image'):
        StrokeInteraction(MapOracle(), [PixelStroke([(10, 10), (60, 10)], 1)]).apply(_image(), _labels(), 2)


# --- clicks --------------------------------------------------------------------------------------------------

def test_positive_click_is_a_disk_positive_for_its_object_and_negative_for_the_others():
    clicks = [Click(20, 10, 1)]
    pos, neg = ClickInteraction(None, clicks, radius=3).encode(CanvasView.identity(40, 56), 2)
    yy, xx = np.mgrid[:40, :56]
    disk = torch.from_numpy(((xx - 20) ** 2 + (yy - 10) ** 2 <= 9).astype(np.float32))
    assert disk.sum() == 29
    assert torch.equal(pos[0, 0], disk) and torch.equal(neg[1, 0], disk)
    assert not pos[1].any() and not neg[0].any()


def test_negative_click_is_negative_only_for_its_object():
    pos, neg = ClickInteraction(None, [Click(30, 30, 2, positive=False)]).encode(CanvasView.identity(40, 56), 2)
    assert not pos.any() and not neg[0].any() and neg[1, 0, 30, 30] == 1


def test_clicks_mark_the_clicked_object_and_leave_far_pixels_alone():
    labels = _labels()
    out = ClickInteraction(MapOracle(), [Click(45, 8, 1)]).apply(_image(), labels, 2).argmax(0)[0]
    assert (out[6:11, 43:48] == 1).all()
    assert torch.equal(out[:, :40], labels[:, :40])


@pytest.mark.parametrize('click, message', [
    (Click(56, 5, 1), 'outside'), (Click(-1, 5, 1), 'outside'), (Click(5, 40, 1), 'outside'),
    (Click(5, 5, 3), 'object_id 3'), (Click(5, 5, 0, positive=False), 'object_id 0'),
])
def test_bad_clicks_are_rejected(click, message):
    with pytest.raises(ValueError, match=message):
        ClickInteraction(MapOracle(), [click]).apply(_image(), _labels(), 2)


# --- free-hand -----------------------------------------------------------------------------------------------

def test_free_hand_mask_replaces_exactly_the_painted_object():
    labels = _labels()
    painted = torch.zeros(40, 56)
    painted[10:30, 20:40] = 1  # overlaps both objects
    out = FreehandInteraction(1, painted).apply(_image(), labels, 2).argmax(0)[0]
    expected = labels.clone()
    expected[expected == 1] = 0
    expected[painted > 0] = 1
    assert torch.equal(out, expected)


def test_free_hand_mask_is_validated():
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        FreehandInteraction(1, torch.full((40, 56), 2.0))
    with pytest.raises(ValueError, match='does not match'):
        FreehandInteraction(1, torch.zeros(10, 10)).apply(_image(), _labels(), 2)
    with pytest.raises(ValueError, match='object_id 0'):
        FreehandInteraction(0, torch.zeros(40, 56)).apply(_image(), _labels(), 2)


# --- local control -------------------------------------------------------------------------------------------

def test_local_control_leaves_every_pixel_outside_the_roi_unchanged():
    torch.manual_seed(0)
    net = S2M(arch='resnet18', head_channels=8).eval()
    labels = _labels()
    roi = (8, 6, 40, 30)
    inner = StrokeInteraction(net, [PixelStroke([(12, 12), (30, 20)], 2), PixelStroke([(35, 25)], 0)])
    mask = LocalInteraction(inner, roi, size=48).apply(_image(), labels, 2)
    before = one_hot(labels, 2)
    outside = torch.ones(40, 56, dtype=torch.bool)
    outside[6 + 3:30 - 3, 8 + 3:40 - 3] = False
    assert torch.equal(mask[..., outside], before[..., outside])
    assert torch.allclose(mask.sum(0), torch.ones(1, 40, 56))


def test_local_control_draws_the_interaction_at_the_zoomed_position():
    labels = torch.zeros(40, 56, dtype=torch.long)
    roi = (10, 10, 26, 26)  # 16x16 -> 64x64: a radius-3 click covers about 1.5 image px
    out = LocalInteraction(ClickInteraction(MapOracle(), [Click(17, 20, 1)]), roi, size=64).apply(
        _image(), labels, 1).argmax(0)[0]
    assert out[20, 17] == 1
    assert (out == 1).sum() <= 9 and torch.nonzero(out).sub(torch.tensor([20, 17])).abs().max() <= 1


def test_local_control_at_the_image_border_pastes_up_to_the_border():
    labels = torch.zeros(40, 56, dtype=torch.long)
    inner = ClickInteraction(MapOracle(), [Click(0, 0, 1, positive=True)])
    out = LocalInteraction(inner, (0, 0, 20, 20), size=32).apply(_image(), labels, 1).argmax(0)[0]
    assert out[0, 0] == 1


@pytest.mark.parametrize('roi', [(0, 0, 0, 10), (10, 10, 5, 20), (-1, 0, 10, 10), (0, 0, 57, 10), (0, 0, 10.5, 10)])
def test_roi_outside_the_image_or_empty_is_rejected(roi):
    with pytest.raises(ValueError, match='ROI'):
        LocalInteraction(ClickInteraction(MapOracle(), []), roi).apply(_image(), _labels(), 2)


def test_roi_too_small_for_its_margin_is_rejected():
    with pytest.raises(ValueError, match='margin'):
        LocalInteraction(ClickInteraction(MapOracle(), []), (10, 10, 15, 15)).apply(_image(), _labels(), 2)


def test_local_control_needs_a_network_interaction():
    with pytest.raises(TypeError, match='MapInteraction'):
        LocalInteraction(FreehandInteraction(1, torch.zeros(40, 56)), (0, 0, 10, 10))
