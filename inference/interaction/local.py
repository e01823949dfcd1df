"""Local control: run a map interaction on a zoomed-in region and paste the result back (MiVOS GUI local mode).

The ROI crop is resized so its shorter side is `size`, padded to /16, segmented by the inner interaction's network
with its maps drawn directly at the zoomed resolution, resized back, aggregated with aggregate_sbg (hard), and
pasted. A `margin` of pixels along ROI sides that lie inside the image is not pasted (MiVOS trims 3 px to hide
crop-border artefacts); every pixel outside the pasted area keeps its current label exactly.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from inference.interaction.base import Interaction, MapInteraction, as_label_map, check_image, \
    check_num_objects, object_maps, segment_objects
from inference.interaction.canvas import CanvasView
from model.aggregate import aggregate_sbg
from util.tensor_util import one_hot, pad_divide_by, unpad

LOG = logging.getLogger(__name__)
Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), x1/y1 exclusive, image pixels


def check_roi(roi: Box, size: tuple[int, int]) -> Box:
    """The ROI must be a non-empty integer box inside the image."""
    h, w = size
    if len(roi) != 4 or not all(isinstance(v, (int, np.integer)) for v in roi):
        raise ValueError(f'ROI must be four ints (x0, y0, x1, y1), got {roi!r}')
    x0, y0, x1, y1 = roi
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ValueError(f'ROI {roi} must satisfy 0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= {h} (non-empty, inside '
                         f'the {w}x{h} image)')
    return roi


class LocalInteraction(Interaction):
    """Apply `inner` (scribbles, strokes, clicks; image coordinates) only inside `roi`, at a larger scale."""

    def __init__(self, inner: MapInteraction, roi: Box, size: int = 480, margin: int = 3):
        if not isinstance(inner, MapInteraction):
            raise TypeError(f'local control needs a network interaction (MapInteraction), got {type(inner).__name__}')
        if size < 16 or margin < 0:
            raise ValueError(f'need size >= 16 and margin >= 0, got size={size}, margin={margin}')
        self.inner, self.roi, self.size, self.margin = inner, roi, size, margin

    def paste_box(self, size: tuple[int, int]) -> Box:
        """The part of the ROI written back: trimmed by `margin` on sides that are not image borders."""
        h, w = size
        x0, y0, x1, y1 = self.roi
        m = self.margin
        box = (x0 + m if x0 > 0 else 0, y0 + m if y0 > 0 else 0, x1 - m if x1 < w else w, y1 - m if y1 < h else h)
        if box[0] >= box[2] or box[1] >= box[3]:
            raise ValueError(f'ROI {self.roi} is too small for a {m}-px margin')
        return box

    def apply(self, image: torch.Tensor, labels: torch.Tensor, num_objects: int) -> torch.Tensor:
        check_num_objects(num_objects)
        size = check_image(image)
        x0, y0, x1, y1 = check_roi(self.roi, size)
        labels = as_label_map(labels, num_objects, size).to(image.device)
        result = one_hot(labels, num_objects)  # [K+1, 1, H, W]
        px0, py0, px1, py1 = self.paste_box(size)

        h, w = y1 - y0, x1 - x0
        scale = self.size / min(h, w)
        zoomed = (round(h * scale), round(w * scale))
        crop = F.interpolate(image[..., y0:y1, x0:x1], size=zoomed, mode='bilinear', align_corners=False)
        crop, pad = pad_divide_by(crop)  # [1, 3, Hc, Wc]
        crop_labels = F.interpolate(labels[y0:y1, x0:x1][None, None].float(), size=zoomed, mode='nearest')
        crop_labels = F.pad(crop_labels, pad)[0, 0].long()  # padding is background
        view = CanvasView(size, tuple(crop.shape[-2:]), origin=(x0, y0),
                          scale=(zoomed[1] / w, zoomed[0] / h), offset=(pad[0], pad[2]))
        pos, neg = self.inner.encode(view, num_objects)
        if not (pos.any() or neg.any()):
            LOG.info('local interaction left nothing inside ROI %s: labels unchanged', self.roi)
            return result
        maps = object_maps(crop_labels, pos.to(image.device), neg.to(image.device))
        probs = unpad(segment_objects(self.inner.net, crop, maps), pad)  # [K, 1, zh, zw]
        probs = F.interpolate(probs, size=(h, w), mode='bilinear', align_corners=False)
        local = aggregate_sbg(probs, keep_bg=True, hard=True)  # [K+1, 1, h, w]
        result[..., py0:py1, px0:px1] = local[..., py0 - y0:py1 - y0, px0 - x0:px1 - x0]
        return result
