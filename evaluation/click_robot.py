"""CiVOS's click generating strategies (CiVOS paper §4.3): the DAVIS robot's round -> clicks per object.

Clicks are rows [object_id, y / H, x / W] (float64), one array of positives and one of negatives; an object's
negatives are its "not me" clicks. H, W are the annotated frame's size (that of its ground truth).
f1: per class drawn on the frame, the vertex of its scribble paths (all its strokes' normalised points) nearest
    the mean of those vertices. Objects get their own point as positive; only when the round has a background
    stroke does each object get the other classes' points (background included) as negatives.
f2: the round's strokes rasterised as davisinteractive's scribbles2mask does, each class split into 8-connected
    pieces (largest first), the first max_clicks pieces clicked at their pixel nearest their mean. Positives: the
    object's own; negatives: every other class's clicks, background included.
f3: from the ground truth, ignoring the scribbles. First round: per object, the centres of its ground-truth
    region (no area limit, no negatives). Later rounds: per object, positives at the centres of its false-negative
    region and negatives at those of its false-positive region, each kept only if the 8-connected piece of the
    region it lies in has at least min_area pixels (0: all). Centres: util.regions.region_centres (at most
    max_clicks per region, counted before the area check, as CiVOS does).
Objects are 1..max(ground truth) (void 255 is not an object). An object absent from the frame gets no f3 click
in the first round; CiVOS's code crashes there, or repeats the clicks of the object before it (a stale variable).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from inference.interaction import CanvasView, rasterize_scribbles
from inference.interaction.raster import NO_STROKE
from inference.interaction.scribbles import check_strokes
from util.regions import nearest_to_mean, piece_sizes, pieces, region_centres

ClickStrategy = Literal['f1', 'f2', 'f3']
STRATEGIES = ('f1', 'f2', 'f3')
VOID = 255


def _rows(items: list[tuple[int, float, float]]) -> np.ndarray:
    """[(object_id, y, x)] -> float64 [N, 3] (shape [0, 3] when empty)."""
    return np.array(items, dtype=np.float64).reshape(-1, 3)


def _num_objects(gt: np.ndarray) -> int:
    labels = gt[gt != VOID]
    return int(labels.max()) if labels.size else 0


def _with_negatives(points: dict[int, list[tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray]:
    """Class -> clicks (0 = background) -> (positives of every object, each object's negatives = the other
    classes' clicks), objects in ascending order."""
    objects = [c for c in sorted(points) if c != 0]
    pos = [(c, y, x) for c in objects for y, x in points[c]]
    neg = [(c, y, x) for c in objects for other in sorted(points) if other != c for y, x in points[other]]
    return _rows(pos), _rows(neg)


def clicks_f1(strokes: list, num_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """One click per scribbled class at its path vertex nearest the vertices' mean (normalised coordinates)."""
    vertices: dict[int, list[np.ndarray]] = {}
    for path, object_id in check_strokes(strokes, num_objects):
        vertices.setdefault(object_id, []).append(path)
    points = {}
    for c, paths in vertices.items():
        xy = np.concatenate(paths)  # [N, 2] (x, y)
        x, y = xy[int(((xy.mean(axis=0) - xy) ** 2).sum(axis=1).argmin())]
        points[c] = [(float(y), float(x))]
    pos, neg = _with_negatives(points)
    return pos, (neg if 0 in points else _rows([]))


def clicks_f2(strokes: list, num_objects: int, size: tuple[int, int], max_clicks: int) -> tuple[np.ndarray, np.ndarray]:
    """One click per stroke piece of each class (at most max_clicks per class)."""
    canvas = rasterize_scribbles(strokes, num_objects, CanvasView.identity(*size))
    h, w = size
    points = {}
    for c in (int(c) for c in np.unique(canvas) if c != NO_STROKE):
        points[c] = [(y / h, x / w) for y, x in map(nearest_to_mean, pieces(canvas == c)[:max_clicks])]
    return _with_negatives(points)


def _centre_rows(object_id: int, region: np.ndarray, max_clicks: int, min_area: int) -> list[tuple[int, float, float]]:
    """Rows of the region's centres whose 8-connected piece of the region has at least min_area pixels."""
    h, w = region.shape
    centres = region_centres(region, max_clicks)
    if min_area > 0 and centres:
        sizes = piece_sizes(region)
        centres = [(y, x) for y, x in centres if sizes[y, x] >= min_area]
    return [(object_id, y / h, x / w) for y, x in centres]


def clicks_f3(gt: np.ndarray, pred: np.ndarray | None, first_round: bool, max_clicks: int,
              min_area: int) -> tuple[np.ndarray, np.ndarray]:
    """Clicks at the centres of the ground truth (first round) or of each object's errors (later rounds)."""
    pos, neg = [], []
    for k in range(1, _num_objects(gt) + 1):
        target = gt == k
        if first_round:
            pos += _centre_rows(k, target, max_clicks, 0)
            continue
        predicted = pred == k
        pos += _centre_rows(k, target & ~predicted, max_clicks, min_area)
        neg += _centre_rows(k, predicted & ~target, max_clicks, min_area)
    return _rows(pos), _rows(neg)


def civos_clicks(strategy: ClickStrategy, gt: np.ndarray, pred: np.ndarray | None, scribbles: Mapping, frame: int,
                 first_round: bool, max_clicks: int, min_area: int) -> tuple[np.ndarray, np.ndarray]:
    """The clicks of one round on `frame`: (positives [N,3], negatives [M,3]) rows [object_id, y/H, x/W].

    gt / pred: int label maps [H,W] of that frame (pred is only read by f3 after the first round); scribbles:
    the round's davisinteractive scribble dict (f1 / f2 read its strokes on `frame`).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f'click strategy must be one of {STRATEGIES}, got {strategy!r}')
    if max_clicks < 1:
        raise ValueError(f'max_clicks must be >= 1, got {max_clicks}')
    if min_area < 0:
        raise ValueError(f'min_area must be >= 0 pixels, got {min_area}')
    gt = np.asarray(gt)
    if gt.ndim != 2:
        raise ValueError(f'ground truth must be a [H,W] label map, got shape {gt.shape}')
    if strategy == 'f3':
        if not first_round and (pred is None or np.shape(pred) != gt.shape):
            raise ValueError(f'click strategy f3 needs the prediction of the annotated frame with the ground '
                             f"truth's shape {gt.shape}, got {None if pred is None else np.shape(pred)}")
        return clicks_f3(gt, None if pred is None else np.asarray(pred), first_round, max_clicks, min_area)
    frames = scribbles.get('scribbles') if isinstance(scribbles, Mapping) else None
    if not isinstance(frames, list) or not 0 <= frame < len(frames):
        raise ValueError(f'scribbles must be a davisinteractive dict whose "scribbles" list holds frame {frame}')
    strokes = frames[frame]
    ids = [s.get('object_id') for s in strokes if isinstance(s, Mapping)]
    num_objects = max([_num_objects(gt)] + [int(i) for i in ids if isinstance(i, (int, np.integer))])
    if strategy == 'f1':
        return clicks_f1(strokes, num_objects)
    return clicks_f2(strokes, num_objects, gt.shape, max_clicks)


def click_pixels(rows: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Rows [object_id, y/H, x/W] -> int64 [N,3] (object_id, y, x) pixels, truncated as CiVOS casts them; a
    coordinate of exactly 1 (an f1 path vertex on the far border) gives the last pixel, not one beyond it."""
    h, w = size
    pixels = (np.asarray(rows, np.float64).reshape(-1, 3) * np.array([1, h, w])).astype(np.int64)
    return np.minimum(pixels, np.array([np.iinfo(np.int64).max, h - 1, w - 1]))
