"""Synthetic previous masks for S2M training (docs/mivos.md): empty, or the GT perturbed down to a target IoU."""
from __future__ import annotations

import cv2
import numpy as np

from util.metrics import jaccard

FROM_ZERO_P = 0.33
TARGET_IOU = (0.4, 0.95)
MAX_ROUNDS = 250
OPS_PER_ROUND = 4
KERNEL_SIZES = (3, 9)  # inclusive
SEED_P = 0.05  # chance per op of a single-pixel seed, so dilations can also grow blobs away from the object


def perturb_mask(gt: np.ndarray, target_iou: float, rng: np.random.Generator,
                 max_rounds: int = MAX_ROUNDS) -> np.ndarray:
    """Random box-restricted dilations/erosions of gt (bool [H, W]) until IoU(result, gt) < target_iou."""
    h, w = gt.shape
    mask = gt.astype(np.uint8)
    for _ in range(max_rounds):
        for _ in range(OPS_PER_ROUND):
            y0, y1 = np.sort(rng.integers(0, h + 1, 2))
            x0, x1 = np.sort(rng.integers(0, w + 1, 2))
            if y1 == y0 or x1 == x0:
                continue
            size = int(rng.integers(KERNEL_SIZES[0], KERNEL_SIZES[1] + 1))
            shape = cv2.MORPH_RECT if rng.random() < 0.5 else cv2.MORPH_ELLIPSE
            kernel = cv2.getStructuringElement(shape, (size, size))
            op = cv2.dilate if rng.random() < 0.5 else cv2.erode
            mask[y0:y1, x0:x1] = op(np.ascontiguousarray(mask[y0:y1, x0:x1]), kernel)
            if rng.random() < SEED_P:
                mask[rng.integers(y0, y1), rng.integers(x0, x1)] = 1
        if jaccard(gt, mask > 0) < target_iou:
            break
    return mask > 0


def previous_mask(gt: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """(previous mask, from_zero): empty with probability 0.33, else gt perturbed to IoU ~ U(0.4, 0.95)."""
    if rng.random() < FROM_ZERO_P:
        return np.zeros_like(gt, bool), True
    return perturb_mask(gt, rng.uniform(*TARGET_IOU), rng), False
