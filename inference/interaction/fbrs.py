"""f-BRS-B (Sofiiuk et al., CVPR 2020, Sec. 3): per-channel scale (1 + s) and bias b on the backbone features,
optimised by L-BFGS-B at every click so that the prediction agrees with the clicks; only the head is re-run.

Objective (BRS mask loss + regulariser): mean squared miss over the positive click squares + over the negative
ones + 1e-3 * (sum s^2 + 10 * sum b^2). The optimisation stops early (zero gradient returned) once every click is
satisfied at the probability threshold, or when the thresholded mask changes by less than 1 % IoU.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.optimize import fmin_l_bfgs_b

ClickTuple = tuple[bool, float, float]
HeadFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (scale [C], bias [C]) -> logits [B, 1, h, w]

LBFGS = {'m': 20, 'factr': 0, 'pgtol': 1e-8, 'maxfun': 20, 'maxiter': 40}  # RITM's get_predictor defaults
REG_WEIGHT = 1e-3
REG_BIAS_WEIGHT = 10.0
MIN_IOU_DIFF = 0.01
SQUARE_RADIUS = 1
_EPS = 1e-5


def click_squares(clicks_lists: Sequence[Sequence[ClickTuple]], size: tuple[int, int]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and negative maps [B, 1, H, W]: a (2r+1)^2 square at every click, per list.

    RITM slices numpy arrays from y - 1 there, which wraps around and drops a click on row or column 0; the
    square is clipped to the image here instead.
    """
    pos = torch.zeros(len(clicks_lists), 1, *size)
    neg = torch.zeros_like(pos)
    for i, clicks in enumerate(clicks_lists):
        for positive, y, x in clicks:
            y, x = int(round(y)), int(round(x))
            r0, c0 = max(0, y - SQUARE_RADIUS), max(0, x - SQUARE_RADIUS)
            (pos if positive else neg)[i, 0, r0:y + SQUARE_RADIUS + 1, c0:x + SQUARE_RADIUS + 1] = 1
    return pos, neg


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """IoU of boolean masks [B, ...] per sample, over the samples whose union is not empty."""
    dims = tuple(range(1, a.dim()))
    union = (a | b).float().mean(dims).cpu().numpy()
    inter = (a & b).float().mean(dims).cpu().numpy()
    return inter[union > 0] / union[union > 0]


class FBRSObjective:
    """The function L-BFGS-B minimises for one click: x = [s (C), b (C)] -> (value, gradient), with RITM's early
    exits, remembering the logits of the lowest value seen (the prediction f-BRS returns)."""

    def __init__(self, head: HeadFn, pos: torch.Tensor, neg: torch.Tensor, prob_thresh: float):
        self.head = head
        self.pos, self.neg = pos, neg
        self.prob_thresh = prob_thresh
        self.best_logits: torch.Tensor | None = None
        self._best_value = np.inf
        self._last_mask: torch.Tensor | None = None

    def _forward(self, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x as a leaf tensor, loss, probabilities, logits) with the graph from x to the loss."""
        params = torch.from_numpy(np.asarray(x)).float().to(self.pos.device).requires_grad_(True)
        with torch.enable_grad():
            s, b = params.chunk(2)
            reg = REG_WEIGHT * ((s ** 2).sum() + REG_BIAS_WEIGHT * (b ** 2).sum())
            logits = self.head(1 + s, b)
            probs = torch.sigmoid(logits)
            miss_pos = ((1 - probs) * self.pos) ** 2
            miss_neg = (probs * self.neg) ** 2
            loss = miss_pos.sum() / (self.pos.sum() + _EPS) + miss_neg.sum() / (self.neg.sum() + _EPS) + reg
        return params, loss, probs, logits

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The plain objective and its float64 gradient at x (no early exit, nothing remembered)."""
        params, loss, _, _ = self._forward(x)
        loss.backward()
        return float(loss.detach()), params.grad.double().cpu().numpy()

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What L-BFGS-B sees: the value, and the gradient unless an early exit zeroes it."""
        params, loss, probs, logits = self._forward(x)
        value = loss.detach().cpu().numpy()
        if self.best_logits is None or value < self._best_value:
            self.best_logits, self._best_value = logits.detach(), value
        with torch.no_grad():
            worst_pos = ((1 - probs) * self.pos).abs().max().item()
            worst_neg = (probs * self.neg).abs().max().item()
        if worst_pos < 1 - self.prob_thresh and worst_neg < self.prob_thresh:
            return value, np.zeros_like(x)
        mask = (probs > self.prob_thresh).detach()
        if self._last_mask is not None:
            iou = mask_iou(mask, self._last_mask)
            if len(iou) > 0 and iou.mean() > 1 - MIN_IOU_DIFF:
                return value, np.zeros_like(x)
        self._last_mask = mask
        loss.backward()
        return value, params.grad.double().cpu().numpy()


def minimise(objective: FBRSObjective, x0: np.ndarray) -> np.ndarray:
    """RITM's L-BFGS-B run from x0; returns where it stopped."""
    return fmin_l_bfgs_b(objective, x0=x0, **LBFGS)[0]
