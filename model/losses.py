"""Bootstrapped cross-entropy of MiVOS's three trainers (docs/mivos.md) and the multi-object sample rule."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class BootstrappedCE(nn.Module):
    """Mean CE over the hardest p fraction of pixels; p goes 1 -> top_p linearly between start_warm and end_warm."""

    def __init__(self, start_warm: int, end_warm: int, top_p: float = 0.15):
        super().__init__()
        if not 0 <= start_warm < end_warm:
            raise ValueError(f'need 0 <= start_warm < end_warm, got {start_warm}, {end_warm}')
        self.start_warm = start_warm
        self.end_warm = end_warm
        self.top_p = top_p

    def fraction(self, it: int) -> float:
        """Fraction p of pixels kept at iteration `it` (1.0 before the warm-up starts)."""
        if it < self.start_warm:
            return 1.0
        if it > self.end_warm:
            return self.top_p
        return self.top_p + (1 - self.top_p) * ((self.end_warm - it) / (self.end_warm - self.start_warm))

    def forward(self, logits: torch.Tensor, target: torch.Tensor, it: int) -> tuple[torch.Tensor, float]:
        """logits [B,C,H,W], target [B,H,W] class indices -> (loss, p)."""
        if it < self.start_warm:
            return F.cross_entropy(logits, target), 1.0
        raw = F.cross_entropy(logits, target, reduction='none').view(-1)  # [B*H*W]
        p = self.fraction(it)
        hardest, _ = torch.topk(raw, int(raw.numel() * p), sorted=False)
        return hardest.mean(), p


def multi_object_loss(loss_fn: BootstrappedCE, logits: torch.Tensor, target: torch.Tensor,
                      selector: torch.Tensor, it: int) -> tuple[torch.Tensor, float]:
    """Per-sample loss on [bg, obj1, obj2] logits, or [bg, obj1] when the sample has no second object; batch mean.

    logits [B,3,H,W], target [B,H,W] in {0,1,2}, selector [B,2] (selector[:,1] > 0.5 marks a second object).
    Returns (mean loss, p of the schedule).
    """
    if logits.shape[1] != 3 or selector.shape != (logits.shape[0], 2):
        raise ValueError(f'expected logits [B,3,H,W] and selector [B,2], got {tuple(logits.shape)}, '
                         f'{tuple(selector.shape)}')
    total = logits.new_zeros(())
    p = loss_fn.fraction(it)
    for i in range(logits.shape[0]):
        classes = 3 if selector[i, 1] > 0.5 else 2
        loss, p = loss_fn(logits[i:i + 1, :classes], target[i:i + 1], it)
        total = total + loss / logits.shape[0]
    return total, p
