"""GUI-style strokes: pixel polylines drawn 3 px thick on a 255 canvas, no dilation (MiVOS GUI scribbles)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn as nn

from inference.interaction.base import MapInteraction, check_object_id
from inference.interaction.canvas import CanvasView, check_in_image
from inference.interaction.raster import label_maps

EMPTY = 255  # value of an untouched GUI canvas pixel
THICKNESS = 3


@dataclass(frozen=True)
class PixelStroke:
    """A polyline in image pixel coordinates [(x, y), ...] labelled 0 (background) or 1..K."""

    points: Sequence[tuple[float, float]]
    object_id: int


class StrokeInteraction(MapInteraction):
    """GUI scribbles resolved by S2M: object k's strokes are positive for k and negative for every other object."""

    def __init__(self, net: nn.Module, strokes: Sequence[PixelStroke], soft_background: bool = False):
        super().__init__(net, soft_background)
        self.strokes = list(strokes)

    def encode(self, view: CanvasView, num_objects: int) -> tuple[torch.Tensor, torch.Tensor]:
        canvas = np.full(view.canvas_size, EMPTY, dtype=np.uint8)
        for i, stroke in enumerate(self.strokes):
            check_object_id(stroke.object_id, num_objects, f'stroke {i}')
            xy = np.asarray(stroke.points, dtype=np.float64).reshape(-1, 2)
            if len(xy) == 0:
                raise ValueError(f'stroke {i} has no points')
            check_in_image(xy, view.image_size, f'stroke {i}')
            pts = [tuple(p) for p in view.to_canvas_pixels(xy).tolist()]
            for a, b in zip(pts, pts[1:] or pts):
                cv2.line(canvas, a, b, int(stroke.object_id), thickness=THICKNESS)
        return label_maps(canvas, num_objects, EMPTY)
