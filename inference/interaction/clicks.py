"""Clicks as small disks on the positive/negative maps, resolved by S2M (or a dedicated click network).

Radius 3 px by default: S2M was trained on 1-px scribbles dilated by a 3x3 kernel (3 px wide strokes); a disk
of radius 3 (7 px across, 29 px) is about as wide and looks like a short scribble dab, so it stays inside the
input distribution, while a radius of 1-2 barely differs from noise and 8+ would paint over thin objects.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from inference.interaction.base import MapInteraction, check_object_id
from inference.interaction.canvas import CanvasView, check_in_image
from inference.interaction.raster import NO_STROKE, draw_disk, label_maps

CLICK_RADIUS = 3


@dataclass(frozen=True)
class Click:
    """A click at image pixel (x, y).

    positive=True: "this is object_id" (0 = background), i.e. positive for it and negative for every other object.
    positive=False: "this is not object_id" (1..K): negative for that object only.
    """

    x: float
    y: float
    object_id: int
    positive: bool = True


class ClickInteraction(MapInteraction):
    """Positive/negative clicks drawn as disks of `radius` canvas pixels."""

    def __init__(self, net: nn.Module, clicks: Sequence[Click], radius: int = CLICK_RADIUS,
                 soft_background: bool = False):
        super().__init__(net, soft_background)
        if radius < 0:
            raise ValueError(f'click radius must be >= 0, got {radius}')
        self.clicks = list(clicks)
        self.radius = radius

    def encode(self, view: CanvasView, num_objects: int) -> tuple[torch.Tensor, torch.Tensor]:
        labelled = np.full(view.canvas_size, NO_STROKE, dtype=np.int64)
        negatives = np.zeros((num_objects, *view.canvas_size), dtype=np.int64)
        for i, click in enumerate(self.clicks):
            check_object_id(click.object_id, num_objects, f'click {i}', background=click.positive)
            xy = np.array([[click.x, click.y]], dtype=np.float64)
            check_in_image(xy, view.image_size, f'click {i}')
            centre = tuple(view.to_canvas_pixels(xy)[0].tolist())
            if click.positive:
                draw_disk(labelled, centre, self.radius, click.object_id)
            else:
                draw_disk(negatives[click.object_id - 1], centre, self.radius, 1)
        pos, neg = label_maps(labelled, num_objects, NO_STROKE)
        return pos, torch.maximum(neg, torch.from_numpy(negatives[:, None].astype(np.float32)))
