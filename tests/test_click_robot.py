"""CiVOS's click generating strategies f1/f2/f3: golden rows of the original code, and hand-made cases."""
from __future__ import annotations

import re

import numpy as np
import pytest

from evaluation.click_robot import civos_clicks
from util.regions import depth_map, pieces, region_centres

RUN_KEY = re.compile(r'(case\d)_(f\d)_(first|later)(?:_lim(\d))?(?:_area(\d+))?_pos$')


def _as_set(rows) -> list[tuple[float, ...]]:
    return sorted(tuple(r) for r in np.round(np.asarray(rows, np.float64).reshape(-1, 3), 6))


def _sorted_rows(rows) -> np.ndarray:
    """[N,3] rows in lexicographic order (the golden rows are compared as sets)."""
    rows = np.asarray(rows, np.float64).reshape(-1, 3)
    return rows[np.lexsort(rows.T[::-1])]


def _run_keys(golden) -> list[str]:
    return [k for k in golden('civos_clicks') if RUN_KEY.match(k)]


def test_every_run_key_of_the_golden_file_is_reproduced(golden):
    g = golden('civos_clicks')
    keys = _run_keys(golden)
    assert len(keys) == 28  # 2 cases x (f1 first/later, f2 2 x 2, f3 2 x 2 x 2)
    for key in keys:
        case, strategy, stage, limit, area = RUN_KEY.match(key).groups()
        pos, neg = civos_clicks(strategy, g[f'{case}_gt'].numpy(), g[f'{case}_pred'].numpy(),
                                g[f'{case}_{stage}_scribbles'], int(g[f'{case}_frame']), stage == 'first',
                                int(limit or 1), int(area or 0))
        for got, ref in ((pos, g[key]), (neg, g[key[:-len('pos')] + 'neg'])):
            assert got.shape == tuple(ref.shape), key
            assert np.allclose(_sorted_rows(got), _sorted_rows(ref.numpy()), rtol=0, atol=1e-6), key


H, W = 40, 60


def _stroke(points: list[tuple[float, float]], object_id: int) -> dict:
    """A davisinteractive stroke through pixel points (x, y), normalised as scribbles2mask reads them."""
    return {'path': [[x / (W - 1), y / (H - 1)] for x, y in points], 'object_id': object_id}


def _round(strokes: list[dict]) -> dict:
    return {'scribbles': [[], strokes], 'sequence': 'hand'}


def test_f1_is_the_vertex_nearest_the_mean_and_negatives_need_a_background_stroke():
    gt = np.zeros((H, W), np.int64)
    strokes = [_stroke([(2, 5), (12, 5)], 1), _stroke([(40, 30), (55, 30)], 1), _stroke([(30, 20)], 2)]
    pos, neg = civos_clicks('f1', gt, None, _round(strokes), 1, False, 3, 100)
    # object 1's four vertices have mean (27.25, 17.5): the nearest is (40, 30); rows are [id, y, x] normalised
    assert _as_set(pos) == _as_set([[1, 30 / 39, 40 / 59], [2, 20 / 39, 30 / 59]]) and neg.shape == (0, 3)
    pos, neg = civos_clicks('f1', gt, None, _round(strokes + [_stroke([(0, 0), (4, 4)], 0)]), 1, False, 3, 100)
    assert _as_set(neg) == _as_set([[1, 0, 0], [1, 20 / 39, 30 / 59], [2, 0, 0], [2, 30 / 39, 40 / 59]])


def test_f2_clicks_each_stroke_piece_largest_first_and_negates_every_other_class():
    gt = np.zeros((H, W), np.int64)
    strokes = [_stroke([(2, 5), (6, 5)], 1), _stroke([(20, 20), (40, 20)], 1), _stroke([(50, 35), (58, 35)], 0)]
    pos, neg = civos_clicks('f2', gt, None, _round(strokes), 1, False, 1, 0)
    assert _as_set(pos) == _as_set([[1, 20 / H, 30 / W]])  # the 21-px piece, at its middle; divided by H, W
    assert _as_set(neg) == _as_set([[1, 35 / H, 54 / W]])
    pos, _ = civos_clicks('f2', gt, None, _round(strokes), 1, False, 3, 0)
    assert len(pos) == 2


def test_f3_first_round_clicks_the_deepest_point_of_each_object_without_negatives():
    gt = np.zeros((H, W), np.int64)
    gt[5:16, 5:26] = 1   # 11 x 21 box: its deepest level is the row y=10, x=10..20, clicked at its middle
    gt[25:36, 40:51] = 2  # 11 x 11 box: centre (30, 45)
    pos, neg = civos_clicks('f3', gt, None, {}, 0, True, 3, 100)
    assert _as_set(pos) == _as_set([[1, 10 / H, 15 / W], [2, 30 / H, 45 / W]]) and neg.shape == (0, 3)


def test_f3_later_rounds_click_errors_per_object_and_skip_small_pieces():
    gt = np.zeros((H, W), np.int64)
    gt[5:30, 5:30] = 1
    pred = gt.copy()
    pred[5:30, 5:12] = 0       # missed strip of object 1: 25 x 7 = 175 px
    pred[10:21, 40:51] = 1     # false object 1 on background: 121 px
    pos, neg = civos_clicks('f3', gt, pred, {}, 0, False, 3, 100)
    assert _as_set(pos) == _as_set([[1, 17 / H, 8 / W]]) and _as_set(neg) == _as_set([[1, 15 / H, 45 / W]])
    _, neg = civos_clicks('f3', gt, pred, {}, 0, False, 3, 122)  # the false positive is 121 px: skipped
    assert neg.shape == (0, 3)


def test_f3_first_round_gives_an_absent_object_no_click():
    gt = np.zeros((H, W), np.int64)
    gt[5:16, 5:16] = 1
    gt[20:31, 30:41] = 3  # object 2 is not in this frame
    pos, _ = civos_clicks('f3', gt, None, {}, 0, True, 1, 0)
    assert _as_set(pos) == _as_set([[1, 10 / H, 10 / W], [3, 25 / H, 35 / W]])


def test_only_the_deepest_level_of_a_region_is_clicked():
    region = np.zeros((H, W), bool)
    region[2:13, 2:13] = True   # depth 6 at its centre
    region[20:27, 30:37] = True  # depth 4: never reaches the deepest level
    assert depth_map(region).max() == 6 and region_centres(region, 5) == [(7, 7)]


def test_pieces_are_eight_connected_and_largest_first():
    region = np.zeros((8, 8), bool)
    region[0, 0] = region[1, 1] = True  # diagonal neighbours: one piece
    region[5:8, 5:8] = True
    assert [int(p.sum()) for p in pieces(region)] == [9, 2]


def test_bad_input_is_refused_with_the_cause():
    gt = np.zeros((H, W), np.int64)
    with pytest.raises(ValueError, match='one of'):
        civos_clicks('f4', gt, None, _round([]), 1, True, 1, 0)
    with pytest.raises(ValueError, match='max_clicks'):
        civos_clicks('f2', gt, None, _round([]), 1, True, 0, 0)
    with pytest.raises(ValueError, match='prediction'):
        civos_clicks('f3', gt, None, _round([]), 1, False, 1, 0)
    with pytest.raises(ValueError, match='frame 5'):
        civos_clicks('f2', gt, None, _round([]), 5, True, 1, 0)
    with pytest.raises(ValueError, match=r'normalised to \[0, 1\]'):
        civos_clicks('f1', gt, None, _round([{'path': [[1.5, 0.2]], 'object_id': 1}]), 1, True, 1, 0)
