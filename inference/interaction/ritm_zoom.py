"""RITM's zoom-in (Sofiiuk et al. 2021, Sec. 3.3): from the second click on, segment a crop around the current
object (its predicted mask plus the positive clicks, expanded 1.4x, at least 200 px) resized so that its longer
side is 400 px. The crop is kept while it still holds every positive click and overlaps the new candidate with a
box IoU of at least 0.5.

Boxes are (rmin, rmax, cmin, cmax), inclusive pixel bounds; clicks are (is_positive, y, x).

One deliberate difference: when a later prediction is not cropped (its previous mask is empty) after a box was
kept, RITM still maps the whole-image output into the old box, squeezing it; here an uncropped prediction is
used as it is (ZoomStep.crop is None) while the box stays kept for the next clicks.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

Box = tuple[int, int, int, int]
ClickTuple = tuple[bool, float, float]

TARGET_SIZE = 400
SKIP_CLICKS = 1
EXPANSION = 1.4
MIN_CROP = 200
RECOMPUTE_IOU = 0.5
MASK_THRESH = 0.5


@dataclass(frozen=True)
class ZoomStep:
    """Outcome of one zoom-in decision: the box kept for later clicks, the crop used now (None: whole image)."""
    roi: Box | None
    crop: Box | None
    changed: bool


def object_roi(mask: np.ndarray, clicks: Sequence[ClickTuple]) -> Box:
    """Box of the mask plus the positive clicks, expanded around its centre and clamped to the image."""
    mask = mask.copy()
    for positive, y, x in clicks:
        if positive:
            mask[int(y), int(x)] = True
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    rmin, rmax, cmin, cmax = rows[0], rows[-1], cols[0], cols[-1]
    rc, cc = 0.5 * (rmin + rmax), 0.5 * (cmin + cmax)
    height = max(EXPANSION * (rmax - rmin + 1), MIN_CROP)
    width = max(EXPANSION * (cmax - cmin + 1), MIN_CROP)
    box = (int(round(rc - 0.5 * height)), int(round(rc + 0.5 * height)),
           int(round(cc - 0.5 * width)), int(round(cc + 0.5 * width)))
    h, w = mask.shape
    return max(0, box[0]), min(h - 1, box[1]), max(0, box[2]), min(w - 1, box[3])


def _segment_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    union = max(1e-6, max(a[1], b[1]) - min(a[0], b[0]) + 1)
    return inter / union


def box_iou(a: Box, b: Box) -> float:
    """IoU of two boxes as the product of the row and column interval IoUs (RITM's get_bbox_iou)."""
    return _segment_iou(a[:2], b[:2]) * _segment_iou(a[2:], b[2:])


def holds_positives(box: Box, clicks: Sequence[ClickTuple]) -> bool:
    """Every positive click inside the box (the lower-right bound exclusive, as in RITM)."""
    return all(box[0] <= y < box[1] and box[2] <= x < box[3] for positive, y, x in clicks if positive)


def zoom_step(roi: Box | None, probs: torch.Tensor | None, clicks: Sequence[ClickTuple]) -> ZoomStep:
    """Decide the crop for this prediction from the kept box, the last prediction [H, W] and all clicks."""
    if len(clicks) <= SKIP_CLICKS or probs is None:
        return ZoomStep(roi, None, False)
    mask = (probs > MASK_THRESH).cpu().numpy()
    if not mask.any():
        return ZoomStep(roi, None, False)
    candidate = object_roi(mask, clicks)
    if roi is None or not holds_positives(roi, clicks) or box_iou(candidate, roi) < RECOMPUTE_IOU:
        return ZoomStep(candidate, candidate, True)
    return ZoomStep(roi, roi, False)


def crop_size(box: Box) -> tuple[int, int]:
    """The crop resized so that its longer side is TARGET_SIZE (rounded half to even, as Python's round)."""
    h, w = box[1] - box[0] + 1, box[3] - box[2] + 1
    scale = TARGET_SIZE / max(h, w)
    return int(round(h * scale)), int(round(w * scale))


def crop_input(x: torch.Tensor, box: Box) -> torch.Tensor:
    """[B, C, H, W] -> the box resized to crop_size (bilinear, align_corners=True)."""
    x = x[:, :, box[0]:box[1] + 1, box[2]:box[3] + 1]
    return F.interpolate(x, size=crop_size(box), mode='bilinear', align_corners=True)


def clicks_to_crop(clicks: Sequence[ClickTuple], box: Box) -> list[ClickTuple]:
    """Image click coordinates -> (fractional) coordinates in the resized crop."""
    (ch, cw), h, w = crop_size(box), box[1] - box[0] + 1, box[3] - box[2] + 1
    return [(positive, ch * (y - box[0]) / h, cw * (x - box[2]) / w) for positive, y, x in clicks]


def paste_crop(probs: torch.Tensor, box: Box, size: tuple[int, int]) -> torch.Tensor:
    """Crop probabilities [1, 1, h, w] -> [1, 1, H, W]: resized back into the box, zero outside it."""
    h, w = box[1] - box[0] + 1, box[3] - box[2] + 1
    out = probs.new_zeros(1, 1, *size)
    out[:, :, box[0]:box[1] + 1, box[2]:box[3] + 1] = F.interpolate(probs, size=(h, w), mode='bilinear',
                                                                     align_corners=True)
    return out
