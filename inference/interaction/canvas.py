"""Geometry shared by the interaction encoders: where image pixels land on the canvas the maps are drawn on.

A canvas is either the image itself (identity), the image inside zero padding, or a resized crop (local control).
Interactions keep their coordinates in image pixels (x right, y down; pixel i covers [i, i+1)) and draw through
a CanvasView, so one encoder serves the full image and a zoomed-in region alike. Stroke widths, the 3x3
dilation and click radii are in canvas pixels, i.e. what the network sees, whatever the zoom.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CanvasView:
    """Maps image pixel coordinates to canvas pixel coordinates: crop origin, scale, then padding offset."""

    image_size: tuple[int, int]  # (H, W) of the image the interaction refers to
    canvas_size: tuple[int, int]  # (H, W) of the maps to draw
    origin: tuple[float, float] = (0.0, 0.0)  # image (x, y) at the canvas's top-left (before padding)
    scale: tuple[float, float] = (1.0, 1.0)  # canvas pixels per image pixel, (x, y)
    offset: tuple[int, int] = (0, 0)  # (left, top) padding added around the drawn region

    @classmethod
    def identity(cls, height: int, width: int) -> CanvasView:
        """The canvas is the image."""
        return cls((height, width), (height, width))

    def to_canvas(self, xy: np.ndarray) -> np.ndarray:
        """[N, 2] image (x, y) -> [N, 2] continuous canvas (x, y); pixel centres map to pixel centres."""
        xy = np.asarray(xy, dtype=np.float64)
        origin, offset = np.asarray(self.origin), np.asarray(self.offset)
        if self.scale == (1.0, 1.0):  # no +-0.5 round trip: keeps integer truncation bit-exact
            return xy - origin + offset
        return (xy + 0.5 - origin) * np.asarray(self.scale) - 0.5 + offset

    def to_canvas_pixels(self, xy: np.ndarray) -> np.ndarray:
        """[N, 2] image (x, y) -> [N, 2] int64 canvas pixel indices (floor; may lie outside the canvas)."""
        return np.floor(self.to_canvas(xy)).astype(np.int64)


def check_in_image(xy: np.ndarray, size: tuple[int, int], what: str) -> None:
    """Pixel coordinates [N, 2] (x, y) must lie inside an image of size (H, W)."""
    h, w = size
    outside = (xy[:, 0] < 0) | (xy[:, 0] >= w) | (xy[:, 1] < 0) | (xy[:, 1] >= h)
    if outside.any():
        x, y = xy[outside.argmax()]
        raise ValueError(f'{what}: point (x={x:g}, y={y:g}) is outside the {w}x{h} image')
