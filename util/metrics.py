"""DAVIS region (J) and boundary (F) measures, written once from the benchmark's definitions.

J = |P ∩ G| / |P ∪ G| (1 when both are empty). F: 1-px boundary maps (a pixel is on the boundary when it differs
from one of its in-image right, lower and lower-right neighbours), each dilated by a disk of radius
ceil(0.008 * image diagonal) px; precision / recall = matched predicted / ground-truth boundary pixels;
F = 2PR / (P + R). Both boundaries empty -> 1, only one empty -> 0 (docs/davis_protocol.md).
Void pixels (ground truth 255), where given, are excluded from both measures as the official evaluation does.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from skimage.morphology import disk

BOUNDARY_TOLERANCE = 0.008  # fraction of the image diagonal


def jaccard(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J of two binary masks [H,W]; 1.0 when both are empty."""
    gt, pred = _binary_pair(gt, pred)
    if void is not None:
        keep = ~void.astype(bool)
        gt, pred = gt & keep, pred & keep
    union = np.count_nonzero(gt | pred)
    return 1.0 if union == 0 else np.count_nonzero(gt & pred) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """1-px boundary [H,W] bool: pixels differing from their right, lower or lower-right neighbour inside the image."""
    mask = mask.astype(bool)
    b = np.zeros_like(mask)
    b[:, :-1] |= mask[:, :-1] != mask[:, 1:]      # right neighbour
    b[:-1, :] |= mask[:-1, :] != mask[1:, :]      # lower neighbour
    b[:-1, :-1] |= mask[:-1, :-1] != mask[1:, 1:]  # lower-right neighbour
    return b


def boundary_radius(height: int, width: int, tolerance: float = BOUNDARY_TOLERANCE) -> int:
    """Matching distance in px: ceil(tolerance * diagonal) (8 px at 854x480), or tolerance itself if >= 1."""
    return int(tolerance) if tolerance >= 1 else math.ceil(tolerance * math.hypot(height, width))


def f_measure(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None,
              tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """Boundary F-measure of two binary masks [H,W] (DAVIS definition, see the module docstring)."""
    gt, pred = _binary_pair(gt, pred)
    if void is not None:
        keep = ~void.astype(bool)
        gt, pred = gt & keep, pred & keep
    gt_b, pred_b = boundary_map(gt), boundary_map(pred)
    n_gt, n_pred = np.count_nonzero(gt_b), np.count_nonzero(pred_b)
    if n_gt == 0 and n_pred == 0:
        return 1.0
    if n_gt == 0 or n_pred == 0:
        return 0.0
    kernel = disk(boundary_radius(*gt.shape, tolerance)).astype(np.uint8)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel).astype(bool)
    pred_dil = cv2.dilate(pred_b.astype(np.uint8), kernel).astype(bool)
    precision = np.count_nonzero(pred_b & gt_dil) / n_pred
    recall = np.count_nonzero(gt_b & pred_dil) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _binary_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape or gt.ndim != 2:
        raise ValueError(f'masks must be two [H,W] arrays of one shape, got {gt.shape} and {pred.shape}')
    return gt.astype(bool), pred.astype(bool)


def frame_scores(gt: np.ndarray, pred: np.ndarray, num_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """J and F [K] of objects 1..K on one pair of label maps [H,W]: ground-truth 255 marks void pixels (excluded),
    the prediction's 255 counts as no object."""
    void = gt == 255
    void = void if void.any() else None
    scores = [(jaccard(gt == k, pred == k, void), f_measure(gt == k, pred == k, void))
              for k in range(1, num_objects + 1)]
    return np.array([s[0] for s in scores], dtype=float), np.array([s[1] for s in scores], dtype=float)
