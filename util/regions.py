"""Pieces and centres of binary regions: the rules CiVOS's click robot uses (paper §4.3), shared with the click
synthesis of S2M training so that "the click at the centre of a region" has one meaning in the project.

- pieces: 8-connected components, largest first. Equal sizes are ordered as CiVOS orders them (numpy's default
  argsort of the sizes, reversed: for a few pieces the later one in raster order first).
- nearest_to_mean: the region pixel closest to the region's mean (the first in raster order on ties).
- region_centres: the pieces of the region's deepest level, where depth is the number of erosions by the
  3x3 cross a pixel survives (the "topographic map"; outside the image counts as outside the region), i.e. its
  city-block distance to the outside. Each piece is clicked at its pixel nearest its mean.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def pieces(region: np.ndarray) -> list[np.ndarray]:
    """8-connected pieces of a binary map as boolean maps, largest first (ties as CiVOS: reversed argsort)."""
    labelled, n = ndimage.label(region, structure=EIGHT_CONNECTED)  # labels in raster order of the first pixel
    if n == 0:
        return []
    sizes = np.bincount(labelled.ravel(), minlength=n + 1)[1:]
    return [labelled == i + 1 for i in np.argsort(sizes)[::-1]]


def piece_sizes(region: np.ndarray) -> np.ndarray:
    """int [H,W]: the size of the 8-connected piece each pixel belongs to (0 outside the region)."""
    labelled, _ = ndimage.label(region, structure=EIGHT_CONNECTED)
    sizes = np.bincount(labelled.ravel())
    sizes[0] = 0
    return sizes[labelled]


def nearest_to_mean(region: np.ndarray) -> tuple[int, int]:
    """(y, x) of the region pixel nearest the region's mean (the first in raster order on ties)."""
    ys, xs = np.nonzero(region)
    d2 = (ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2
    i = int(d2.argmin())
    return int(ys[i]), int(xs[i])


def depth_map(region: np.ndarray) -> np.ndarray:
    """int [H,W]: how many erosions by the 3x3 cross each pixel survives, plus one (0 outside the region)."""
    padded = np.pad(region.astype(bool), 1)  # the image border is the region's border
    return ndimage.distance_transform_cdt(padded, metric='taxicab')[1:-1, 1:-1]


def region_centres(region: np.ndarray, max_clicks: int) -> list[tuple[int, int]]:
    """(y, x) centres of the first max_clicks pieces (largest first) of the region's deepest level; [] if empty."""
    if not region.any():
        return []
    depth = depth_map(region)
    return [nearest_to_mean(p) for p in pieces(depth == depth.max())[:max_clicks]]
