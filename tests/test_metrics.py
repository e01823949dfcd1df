"""DAVIS J and F (util.metrics) against hand-computed values and against davisinteractive's own implementation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from util.metrics import boundary_map, boundary_radius, f_measure, frame_scores, jaccard


def _square(shift: int = 0, size: int = 10) -> np.ndarray:
    """A 4x4 square at rows 2..5, columns 2+shift..5+shift of a 10x10 image."""
    m = np.zeros((size, size), bool)
    m[2:6, 2 + shift:6 + shift] = True
    return m


def test_boundary_of_a_square_is_the_perimeter_of_the_square_grown_up_and_left_by_one_pixel():
    b = boundary_map(_square())
    ring = np.zeros((10, 10), bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False
    assert np.array_equal(b, ring) and b.sum() == 16


def test_only_neighbours_inside_the_image_count_for_the_boundary():
    assert not boundary_map(np.ones((6, 8), bool)).any()
    m = np.zeros((6, 8), bool)
    m[:, 4:] = True  # touches the right and bottom border: boundary only where it meets the background
    assert np.array_equal(np.nonzero(boundary_map(m))[1], np.full(6, 3))


def test_one_pixel_shift_is_inside_the_boundary_tolerance_of_a_small_image():
    assert boundary_radius(10, 10) == 1 and boundary_radius(480, 854) == 8
    assert jaccard(_square(), _square(1)) == pytest.approx(12 / 20)
    assert f_measure(_square(), _square(1)) == pytest.approx(1.0)


def test_three_pixel_shift_matches_the_hand_count():
    # J: overlap one column of 4 px, union 28 px. F: 9 of the 16 boundary pixels lie within 1 px of the other
    # boundary on each side (3 on the top row, 3 on the bottom row, the 3 inner-column pixels), so P = R = 9/16.
    assert jaccard(_square(), _square(3)) == pytest.approx(4 / 28)
    assert f_measure(_square(), _square(3)) == pytest.approx(9 / 16)


def test_empty_masks_score_one_and_one_empty_mask_scores_zero():
    empty = np.zeros((10, 10), bool)
    assert jaccard(empty, empty) == 1.0 and f_measure(empty, empty) == 1.0
    assert jaccard(_square(), empty) == 0.0 and f_measure(_square(), empty) == 0.0
    assert f_measure(empty, _square()) == 0.0


def test_void_pixels_are_left_out_of_both_measures():
    void = np.zeros((10, 10), bool)
    void[:, 6:] = True
    assert jaccard(_square(), _square(3), void) == pytest.approx(4 / 16)
    assert jaccard(_square(), _square(), void) == 1.0


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match='one shape'):
        jaccard(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match='one shape'):
        frame_scores(np.zeros((4, 4)), np.zeros((5, 4)), 1)


def _blobs(rng: np.random.Generator, t: int, h: int, w: int, k: int) -> np.ndarray:
    labels = np.zeros((t, h, w), np.uint8)
    for i in range(t):
        for obj in range(1, k + 1):
            labels[i][gaussian_filter(rng.random((h, w)), 3) > 0.515 + 0.005 * obj] = obj
    return labels


@pytest.mark.parametrize('h, w', [(10, 10), (64, 96), (150, 260)])
def test_scores_equal_davisinteractive_on_random_multi_object_videos(h, w):
    from evaluation.davis_compat import patch_davisinteractive
    patch_davisinteractive()
    from davisinteractive.metrics import batched_f_measure, batched_jaccard
    rng = np.random.default_rng(h)
    gt, pred = _blobs(rng, 4, h, w, 3), _blobs(rng, 4, h, w, 3)
    pred[0] = gt[0]
    pred[1, :, -1] = 2  # objects touching the image border
    gt[2, -2:] = 1
    j, f = (np.stack(s, axis=1) for s in zip(*(frame_scores(g, p, 3) for g, p in zip(gt, pred))))  # [K, T]
    ref_j = batched_jaccard(gt, pred, average_over_objects=False, nb_objects=3)  # [T, K]
    ref_f = batched_f_measure(gt, pred, average_over_objects=False, nb_objects=3)
    np.testing.assert_allclose(j, ref_j.T, atol=1e-12)
    np.testing.assert_allclose(f, ref_f.T, atol=1e-12)
    assert (j[:, 0] == 1).all() and 0 < f[:, 1:].mean() < 1
