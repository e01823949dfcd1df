"""Synthetic interactions for S2M training (docs/mivos.md): scribbles and clicks from the errors of a previous mask.

Positive interactions go into false-negative regions (GT but not previous mask), negative ones into false-positive
regions (previous mask but not GT). All functions take and return bool masks [H, W]; randomness comes from a numpy
Generator.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra, minimum_spanning_tree
from scipy.stats import binom
from skimage.draw import line
from skimage.morphology import medial_axis, skeletonize

from util.regions import pieces, region_centres

ROBOT_P = 0.75  # DAVIS-like robot scribbles when not starting from zero
SECOND_TYPE_P = 0.3
RANDOM_CURVES_P = 0.3
RANDOM_CURVES_MIN_PIXELS = 100
ROBOT_MIN_NODES = 4
BEZIER_SAMPLES = 1000
CLICK_RADIUS = 3
CLICK_MIN_AREA = 20
MAX_CLICKS = 5
_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def error_regions(gt: np.ndarray, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false negatives, false positives) of prev against gt."""
    return gt & ~prev, prev & ~gt


def _disk(diameter: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter))


def _dilate3(mask: np.ndarray) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _draw_polyline(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bresenham lines through consecutive (y, x) points, clipped to the image."""
    out = np.zeros(shape, bool)
    pts = np.round(points).astype(int)
    pts[:, 0] = pts[:, 0].clip(0, shape[0] - 1)
    pts[:, 1] = pts[:, 1].clip(0, shape[1] - 1)
    out[pts[0, 0], pts[0, 1]] = True
    for (y0, x0), (y1, x1) in zip(pts[:-1], pts[1:]):
        rr, cc = line(y0, x0, y1, x1)
        out[rr, cc] = True
    return out


def bezier(control: np.ndarray, n_samples: int = BEZIER_SAMPLES) -> np.ndarray:
    """Points [n_samples, 2] of the Bezier curve with the given control points [n, 2] (Bernstein basis)."""
    degree = len(control) - 1
    t = np.linspace(0, 1, n_samples)[:, None]
    basis = binom.pmf(np.arange(degree + 1)[None], degree, t)  # [n_samples, n]
    return basis @ control


def _skeleton_paths(skeleton: np.ndarray) -> list[np.ndarray]:
    """Longest path (pixel coordinates [n, 2]) of every skeleton piece with >= ROBOT_MIN_NODES pixels."""
    ys, xs = np.nonzero(skeleton)
    index = -np.ones(skeleton.shape, int)
    index[ys, xs] = np.arange(len(ys))
    rows, cols, weights = [], [], []
    for dy, dx in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        ok = (ny >= 0) & (ny < skeleton.shape[0]) & (nx >= 0) & (nx < skeleton.shape[1])
        ok[ok] = index[ny[ok], nx[ok]] >= 0
        rows.append(np.nonzero(ok)[0])
        cols.append(index[ny[ok], nx[ok]])
        weights.append(np.full(ok.sum(), np.hypot(dy, dx)))
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(len(ys), len(ys))).tocsr()
    tree = minimum_spanning_tree(graph)  # cuts the skeleton's cycles
    tree = tree + tree.T
    labels, n_pieces = ndimage.label(skeleton, structure=np.ones((3, 3)))
    paths = []
    for piece in range(1, n_pieces + 1):
        nodes = index[labels == piece]
        if len(nodes) < ROBOT_MIN_NODES:
            continue
        dist = dijkstra(tree, indices=nodes[0])
        far = int(np.argmax(np.where(np.isfinite(dist), dist, -1)))
        dist, pred = dijkstra(tree, indices=far, return_predecessors=True)
        node = int(np.argmax(np.where(np.isfinite(dist), dist, -1)))
        path = [node]
        while pred[node] >= 0:
            node = int(pred[node])
            path.append(node)
        paths.append(np.stack([ys[path], xs[path]], 1).astype(float))
    return paths


def robot_scribble(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """DAVIS-like robot: opened region at half resolution, medial-axis longest paths, Bezier, Bresenham, 3x3."""
    half = region[::2, ::2].astype(np.uint8)
    area = int(half.sum())
    if area == 0:
        return np.zeros_like(region)
    radius = min(0.2 * np.sqrt(area) / 2, 16.0)
    opened = half
    while radius > 1:
        opened = cv2.morphologyEx(half, cv2.MORPH_OPEN, _disk(2 * int(radius) + 1))
        if opened.any():
            break
        radius *= 0.9
    else:
        opened = half
    skeleton = medial_axis(opened > 0, rng=int(rng.integers(2 ** 31)))
    out = np.zeros(region.shape, bool)
    for path in _skeleton_paths(skeleton):
        smooth = bezier(path) if len(path) <= BEZIER_SAMPLES else path
        out |= _draw_polyline(smooth * 2, region.shape)
    return _dilate3(out)


def _erase_parts(stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Remove up to 3 random boxes from a stroke (partial erasures), keeping at least part of it."""
    ys, xs = np.nonzero(stroke)
    if len(ys) == 0:
        return stroke
    out = stroke.copy()
    span = max(ys.max() - ys.min(), xs.max() - xs.min(), 3)
    for _ in range(rng.integers(0, 4)):
        cy, cx = ys[rng.integers(len(ys))], xs[rng.integers(len(xs))]
        r = int(rng.integers(1, max(2, span // 4)))
        out[max(cy - r, 0):cy + r + 1, max(cx - r, 0):cx + r + 1] = False
    return out if out.any() else stroke


def boundary_scribble(component: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inner boundary: erode by a disk of 3-49 px, morphological gradient, partial erasures."""
    eroded = cv2.erode(component.astype(np.uint8), _disk(int(rng.integers(3, 50))))
    if not eroded.any():
        eroded = component.astype(np.uint8)
    gradient = cv2.morphologyEx(eroded, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    return _erase_parts(gradient & component, rng)


def skeleton_scribble(component: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zhang-Suen thinning, 3x3 dilation, partial erasures."""
    return _erase_parts(_dilate3(skeletonize(component, method='zhang')) & component, rng)


def bezier_scribble(region: np.ndarray, rng: np.random.Generator, n_curves: int | None = None) -> np.ndarray:
    """2-3 quadratic Bezier curves (thickness 3), each the longest of 10 candidates inside region dilated 3-6 px."""
    ys, xs = np.nonzero(region)
    out = np.zeros(region.shape, np.uint8)
    if len(ys) == 0:
        return out > 0
    allowed = cv2.dilate(region.astype(np.uint8), _disk(2 * int(rng.integers(3, 7)) + 1)) > 0
    for _ in range(n_curves or int(rng.integers(2, 4))):
        best, best_length = None, -1.0
        for _ in range(10):
            pick = rng.integers(len(ys), size=3)
            curve = bezier(np.stack([ys[pick], xs[pick]], 1).astype(float), 50)
            inside = allowed[np.round(curve[:, 0]).astype(int), np.round(curve[:, 1]).astype(int)].all()
            length = float(np.linalg.norm(np.diff(curve, axis=0), axis=1).sum())
            if inside and length > best_length:
                best, best_length = curve, length
        if best is not None:
            cv2.polylines(out, [np.round(best[:, ::-1]).astype(np.int32)], False, 1, thickness=3)
    return out > 0


_COMPONENT_STRATEGIES = (boundary_scribble, skeleton_scribble, bezier_scribble)


def component_scribbles(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per connected component (after an opening with a 5-19 px disk, components under 10-99 px skipped):
    a boundary, skeleton or Bezier scribble, plus a second type with probability 0.3."""
    opened = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, _disk(int(rng.integers(5, 20))))
    count, labels = cv2.connectedComponents(opened, connectivity=8)
    min_area = int(rng.integers(10, 100))
    out = np.zeros(region.shape, bool)
    for label in range(1, count):
        component = labels == label
        if component.sum() < min_area:
            continue
        kinds = rng.permutation(len(_COMPONENT_STRATEGIES))
        for kind in kinds[:2 if rng.random() < SECOND_TYPE_P else 1]:
            out |= _COMPONENT_STRATEGIES[kind](component, rng)
    return out


def synthesize_scribbles(gt: np.ndarray, prev: np.ndarray, from_zero: bool,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) scribbles correcting prev towards gt (docs/mivos.md)."""
    fn, fp = error_regions(gt, prev)
    draw = robot_scribble if (not from_zero and rng.random() < ROBOT_P) else component_scribbles
    pos, neg = draw(fn, rng) & gt, draw(fp, rng) & ~gt
    if rng.random() < RANDOM_CURVES_P or not (pos.any() or neg.any()):
        if gt.sum() >= RANDOM_CURVES_MIN_PIXELS:
            pos |= bezier_scribble(gt, rng) & gt
        if (~gt).sum() >= RANDOM_CURVES_MIN_PIXELS:
            neg |= bezier_scribble(~gt, rng) & ~gt
    return pos, neg


def click_points(region: np.ndarray, min_area: int = CLICK_MIN_AREA,
                 max_clicks: int = MAX_CLICKS) -> list[tuple[int, int]]:
    """One (y, x) per 8-connected piece of region (largest first, area >= min_area, at most max_clicks), at the
    piece's centre as the evaluation's click robot places it (util.regions.region_centres)."""
    points = []
    for piece in pieces(region)[:max_clicks]:
        if piece.sum() < min_area:
            break
        points += region_centres(piece, 1)
    return points


def draw_clicks(points: list[tuple[int, int]], shape: tuple[int, int], radius: int = CLICK_RADIUS) -> np.ndarray:
    """Filled disks of the given radius at (y, x) points."""
    out = np.zeros(shape, np.uint8)
    for y, x in points:
        cv2.circle(out, (x, y), radius, 1, thickness=-1)
    return out > 0


def synthesize_clicks(gt: np.ndarray, prev: np.ndarray, radius: int = CLICK_RADIUS, min_area: int = CLICK_MIN_AREA,
                      max_clicks: int = MAX_CLICKS) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) click disks: positives in false-negative regions, negatives in false-positive ones."""
    fn, fp = error_regions(gt, prev)
    return (draw_clicks(click_points(fn, min_area, max_clicks), gt.shape, radius),
            draw_clicks(click_points(fp, min_area, max_clicks), gt.shape, radius))
