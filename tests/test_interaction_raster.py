"""Our scribble rasteriser against davisinteractive's own `scribbles2mask`, pixel for pixel."""
from __future__ import annotations

import numpy as np
import pytest

from inference.interaction.canvas import CanvasView
from inference.interaction.raster import bresenham
from inference.interaction.scribbles import rasterize_scribbles
from evaluation.davis_compat import patch_davisinteractive


@pytest.fixture(scope='module')
def scribbles2mask():
    """davisinteractive's own rasteriser, imported through the project's compatibility layer."""
    patch_davisinteractive()
    from davisinteractive.utils.scribbles import scribbles2mask
    return scribbles2mask


def _random_strokes(rng: np.random.Generator, num_objects: int) -> list[dict]:
    strokes = []
    for _ in range(rng.integers(1, 5)):
        n = int(rng.integers(1, 7))
        path = rng.random((n, 2))
        path[rng.random((n, 2)) < 0.05] = 1.0  # hit the far border sometimes
        strokes.append({'path': path.tolist(), 'object_id': int(rng.integers(0, num_objects + 1))})
    return strokes


def test_scribble_rasteriser_matches_davisinteractive_pixel_exactly_on_random_strokes(scribbles2mask):
    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(4, 90, 2))
        strokes = _random_strokes(rng, 3)
        expected = scribbles2mask({'scribbles': [strokes]}, (h, w))[0]
        ours = rasterize_scribbles(strokes, 3, CanvasView.identity(h, w))
        np.testing.assert_array_equal(ours, expected)


def test_fixed_canvas_rasterises_at_real_size_and_shifts_into_the_padding(scribbles2mask):
    rng = np.random.default_rng(1)
    pad = (5, 5, 2, 2)  # 76x150 -> 80x160
    for _ in range(30):
        strokes = _random_strokes(rng, 2)
        real = scribbles2mask({'scribbles': [strokes]}, (76, 150))[0]
        expected = np.pad(real, ((2, 2), (5, 5)), constant_values=-1)
        ours = rasterize_scribbles(strokes, 2, CanvasView.identity(80, 160), pad=pad, quirk=False)
        np.testing.assert_array_equal(ours, expected)


def test_quirky_canvas_stretches_scribbles_over_the_padding():
    strokes = [{'path': [[1.0, 0.5]], 'object_id': 1}]
    quirky = rasterize_scribbles(strokes, 1, CanvasView.identity(80, 160), pad=(5, 5, 2, 2))
    fixed = rasterize_scribbles(strokes, 1, CanvasView.identity(80, 160), pad=(5, 5, 2, 2), quirk=False)
    assert np.argwhere(quirky == 1).tolist() == [[39, 159]]  # x = 1.0 * 159, inside the right padding
    assert np.argwhere(fixed == 1).tolist() == [[39, 154]]  # x = 1.0 * 149 + 5, last real column


def test_bresenham_joins_both_endpoints_with_an_eight_connected_line():
    line = bresenham(0, 0, 5, 2)
    assert line[0] == (0, 0) and line[-1] == (5, 2) and len(line) == 6
    assert all(max(abs(a[0] - b[0]), abs(a[1] - b[1])) == 1 for a, b in zip(line, line[1:]))
