"""Rasterisation of labelled strokes and points into label canvases, and label canvas -> positive/negative maps.

`bresenham` is pixel-identical to davisinteractive's scribble rasteriser (checked by tests/test_interaction_raster.py);
OpenCV's LINE_8 is not (it breaks ties differently on about a third of random strokes).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

NO_STROKE = -1  # davisinteractive's default value of an unlabelled pixel


def bresenham(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """Integer pixels (x, y) of the 8-connected line from (x0, y0) to (x1, y1), both ends included."""
    dx, sx = abs(x1 - x0), (1 if x0 < x1 else -1)
    dy, sy = -abs(y1 - y0), (1 if y0 < y1 else -1)
    err = dx + dy
    pixels = []
    while True:
        pixels.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return pixels
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def draw_polyline(canvas: np.ndarray, points: np.ndarray, value: int) -> None:
    """Write `value` on the 1-px Bresenham polyline through integer points [N, 2] (x, y); clipped to the canvas."""
    h, w = canvas.shape
    pts = [tuple(p) for p in points.tolist()]
    segments = [bresenham(*a, *b) for a, b in zip(pts, pts[1:])] or [[pts[0]]]  # a single point is drawn as such
    for segment in segments:
        for x, y in segment:
            if 0 <= x < w and 0 <= y < h:
                canvas[y, x] = value


def draw_disk(canvas: np.ndarray, centre: tuple[int, int], radius: int, value: int) -> None:
    """Write `value` on the pixels within `radius` (Euclidean) of the integer centre (x, y); clipped to the canvas."""
    h, w = canvas.shape
    yy, xx = np.ogrid[:h, :w]
    canvas[(xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius ** 2] = value


def label_maps(canvas: np.ndarray, num_objects: int, none_value: int,
               dilate: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Label canvas [H, W] (0 = background, 1..K objects) -> (positive, negative) float maps [K, 1, H, W].

    For object k: positive = canvas == k; negative = any other label (background or another object).
    With `dilate`, both are dilated once with a 3x3 ones kernel (DAVIS scribbles, as S2M was trained).
    """
    pos, neg = [], []
    for k in range(1, num_objects + 1):
        maps = [(canvas == k), (canvas != k) & (canvas != none_value)]
        maps = [m.astype(np.uint8) for m in maps]
        if dilate:
            maps = [cv2.dilate(m, np.ones((3, 3), np.uint8)) for m in maps]
        pos.append(maps[0])
        neg.append(maps[1])
    return _stack(pos), _stack(neg)


def _stack(maps: list[np.ndarray]) -> torch.Tensor:
    """K maps [H, W] -> float tensor [K, 1, H, W]."""
    return torch.from_numpy(np.stack(maps)[:, None].astype(np.float32))
