"""CiVOS' simulated clicks for the DAVIS interactive benchmark (DAVISINTERACTIVE.md section 11).

f1: one click per class drawn by the robot, at its scribble pixel nearest the mean of all its scribble pixels.
f2: one click per stroke (8-connected piece of the rasterised scribble of a class), at the piece's pixel nearest
    the piece's mean; largest pieces first, at most `max_clicks` per class.
f3: ignores the scribble: for every class c (0 = background) the error region "ground truth c, predicted not c"
    of the annotated frame, split into 8-connected pieces; one click at the interior-most pixel (largest
    distance to the region's border, the image border counting as border) of each piece of at least `min_area`
    pixels, largest first, at most `max_clicks` per class. On the first round the prediction is empty, so the
    clicks land on the interior-most points of the ground-truth objects.
A click of class c > 0 is positive for object c; a class-0 click says "background" (negative for every object),
as the robot's object_id-0 strokes do. Ground-truth void (255) is never clicked.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from scipy import ndimage

from inference.interaction import CanvasView, Click, rasterize_scribbles
from inference.interaction.raster import NO_STROKE

ClickStrategy = Literal['f1', 'f2', 'f3']
STRATEGIES = ('f1', 'f2', 'f3')
MIN_REGION_AREA = 20  # px; f3 ignores smaller error pieces (the robot cannot correct them either)
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def scribble_canvas(strokes: Sequence[Mapping], num_objects: int, size: tuple[int, int]) -> np.ndarray:
    """Strokes of one frame rasterised as davisinteractive does -> int64 [H,W] class ids, -1 where no stroke."""
    return rasterize_scribbles(strokes, num_objects, CanvasView.identity(*size))


def _nearest_to_mean(region: np.ndarray) -> tuple[int, int]:
    """(x, y) of the region pixel nearest the region's mean (first in raster order on ties)."""
    ys, xs = np.nonzero(region)
    d2 = (ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2
    i = int(d2.argmin())
    return int(xs[i]), int(ys[i])


def _interior_most(region: np.ndarray) -> tuple[int, int]:
    """(x, y) of the region pixel farthest from its border (outside the image counts as border); on a plateau
    (e.g. the ridge of an elongated region) the one nearest the plateau's mean, i.e. its middle."""
    dist = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    return _nearest_to_mean(dist == dist.max())


def _pieces(region: np.ndarray, min_area: int = 1) -> list[np.ndarray]:
    """8-connected pieces of a binary map with at least min_area pixels, largest first (ties: raster order)."""
    labelled, n = ndimage.label(region, structure=EIGHT_CONNECTED)
    if n == 0:
        return []
    areas = np.bincount(labelled.ravel())[1:]
    order = sorted(range(n), key=lambda i: -areas[i])
    return [labelled == i + 1 for i in order if areas[i] >= min_area]


def _click(x: int, y: int, cls: int) -> Click:
    return Click(float(x), float(y), object_id=cls, positive=True)


def clicks_f1(canvas: np.ndarray) -> list[Click]:
    """One click per class present on the scribble canvas."""
    classes = [int(c) for c in np.unique(canvas) if c != NO_STROKE]
    return [_click(*_nearest_to_mean(canvas == c), c) for c in classes]


def clicks_f2(canvas: np.ndarray, max_clicks: int) -> list[Click]:
    """One click per stroke piece, at most max_clicks per class."""
    clicks = []
    for c in (int(c) for c in np.unique(canvas) if c != NO_STROKE):
        clicks += [_click(*_nearest_to_mean(p), c) for p in _pieces(canvas == c)[:max_clicks]]
    return clicks


def clicks_f3(gt: np.ndarray, pred: np.ndarray, num_objects: int, max_clicks: int,
              min_area: int = MIN_REGION_AREA) -> list[Click]:
    """Clicks at the interior-most points of the error pieces of every class (ground truth [H,W] vs labels [H,W])."""
    if gt.shape != pred.shape:
        raise ValueError(f'ground truth {gt.shape} and prediction {pred.shape} of the annotated frame differ in size')
    clicks = []
    for c in range(num_objects + 1):
        missed = (gt == c) & (pred != c)
        clicks += [_click(*_interior_most(p), c) for p in _pieces(missed, min_area)[:max_clicks]]
    return clicks


def simulate_clicks(strategy: ClickStrategy, strokes: Sequence[Mapping], num_objects: int, size: tuple[int, int],
                    max_clicks: int, gt: np.ndarray | None = None, pred: np.ndarray | None = None) -> list[Click]:
    """The clicks of one round in image pixels of the (unpadded) frame; f3 needs gt and pred of that frame."""
    if strategy not in STRATEGIES:
        raise ValueError(f'click strategy must be one of {STRATEGIES}, got {strategy!r}')
    if max_clicks < 1:
        raise ValueError(f'max_clicks must be >= 1, got {max_clicks}')
    if strategy == 'f3':
        if gt is None or pred is None:
            raise ValueError('click strategy f3 needs the ground truth and the prediction of the annotated frame')
        return clicks_f3(gt, pred, num_objects, max_clicks)
    canvas = scribble_canvas(strokes, num_objects, size)
    return clicks_f1(canvas) if strategy == 'f1' else clicks_f2(canvas, max_clicks)
