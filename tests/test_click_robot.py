"""CiVOS click strategies f1/f2/f3 on hand-made scribbles and masks."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.click_robot import clicks_f3, scribble_canvas, simulate_clicks
from inference.interaction import Click

H, W = 40, 60


def _stroke(points: list[tuple[int, int]], object_id: int) -> dict:
    """A davisinteractive stroke through pixel points (x, y), normalised as the robot does for scribbles2mask."""
    return {'path': [[x / (W - 1), y / (H - 1)] for x, y in points], 'object_id': object_id}


def test_scribble_canvas_draws_the_strokes_on_their_pixels():
    canvas = scribble_canvas([_stroke([(5, 10), (15, 10)], 2)], 2, (H, W))
    assert set(np.nonzero(canvas == 2)[1]) == set(range(5, 16)) and (canvas[canvas != 2] == -1).all()


def test_f1_clicks_once_per_class_at_the_scribble_pixel_nearest_its_mean():
    strokes = [_stroke([(2, 5), (12, 5)], 1), _stroke([(40, 30), (55, 30)], 1), _stroke([(30, 2), (30, 8)], 0)]
    clicks = simulate_clicks('f1', strokes, 1, (H, W), max_clicks=5)
    # object 1: 11 + 16 scribble pixels with mean (31, 19.8); the nearest of them is the longer stroke's end
    # (40, 30); the background stroke's mean is its middle pixel
    assert clicks == [Click(30.0, 5.0, 0), Click(40.0, 30.0, 1)]


def test_f2_clicks_once_per_stroke_largest_first_up_to_the_limit():
    strokes = [_stroke([(2, 5), (6, 5)], 1), _stroke([(20, 20), (40, 20)], 1), _stroke([(50, 35), (58, 35)], 1)]
    clicks = simulate_clicks('f2', strokes, 1, (H, W), max_clicks=2)
    assert clicks == [Click(30.0, 20.0, 1), Click(54.0, 35.0, 1)]
    assert len(simulate_clicks('f2', strokes, 1, (H, W), max_clicks=3)) == 3


def test_f3_first_round_clicks_the_interior_most_point_of_every_object():
    gt = np.zeros((H, W), np.uint8)
    gt[5:16, 5:26] = 1   # 11 x 21 box: centre (15, 10)
    gt[25:36, 40:51] = 2  # 11 x 11 box: centre (45, 30)
    clicks = clicks_f3(gt, np.zeros_like(gt), 2, max_clicks=3)
    assert clicks == [Click(15.0, 10.0, 1), Click(45.0, 30.0, 2)]


def test_f3_clicks_false_positives_as_background_and_false_negatives_as_the_object():
    gt = np.zeros((H, W), np.uint8)
    gt[5:30, 5:30] = 1
    pred = gt.copy()
    pred[5:30, 5:12] = 0      # missed strip of object 1 (7 px wide)
    pred[10:21, 40:51] = 1    # false object: 11 x 11 on background
    pred[0:2, 55:57] = 1      # 4-px false positive: below the minimum area, ignored
    clicks = clicks_f3(gt, pred, 1, max_clicks=2)
    assert clicks == [Click(45.0, 15.0, 0), Click(8.0, 17.0, 1)]


def test_f3_counts_the_image_border_as_region_border_and_never_clicks_void():
    gt = np.full((H, W), 255, np.uint8)
    gt[:, :20] = 1  # the object fills the left columns up to the border
    click = clicks_f3(gt, np.zeros_like(gt), 1, max_clicks=1)[0]
    assert (click.x, click.y) == (9.0, 19.0)  # 10 px from the image border and from the void; middle of the ridge
    assert all(c.object_id == 1 for c in clicks_f3(gt, np.zeros_like(gt), 1, max_clicks=5))


def test_unknown_strategy_missing_ground_truth_and_zero_clicks_are_refused():
    with pytest.raises(ValueError, match='one of'):
        simulate_clicks('f4', [], 1, (H, W), 1)
    with pytest.raises(ValueError, match='ground truth'):
        simulate_clicks('f3', [], 1, (H, W), 1)
    with pytest.raises(ValueError, match='max_clicks'):
        simulate_clicks('f1', [], 1, (H, W), 0)
