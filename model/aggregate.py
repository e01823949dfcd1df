"""Soft aggregation of per-object probabilities into a K+1-way distribution (MiVOS/STM)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-7


def _logits(prob: torch.Tensor, hard: bool) -> torch.Tensor:
    """Clamped logit log(p / (1 - p)); x1000 makes the softmax an effective argmax."""
    p = prob.clamp(_EPS, 1 - _EPS)
    logits = torch.log(p / (1 - p))
    return logits * 1000 if hard else logits


def _softmax_with_background(bg: torch.Tensor, prob: torch.Tensor, keep_bg: bool, hard: bool) -> torch.Tensor:
    """Softmax over the logits of [bg, p_1..p_K] along dim 0; all K+1 channels if keep_bg, else the K objects."""
    new_prob = F.softmax(_logits(torch.cat([bg, prob], dim=0), hard), dim=0)
    return new_prob if keep_bg else new_prob[1:]


def aggregate_wbg(prob: torch.Tensor, keep_bg: bool = False, hard: bool = False) -> torch.Tensor:
    """[K,1,H,W] object probabilities -> softmax over [bg = prod(1 - p_i), p_1..p_K] along dim 0."""
    return _softmax_with_background(torch.prod(1 - prob, dim=0, keepdim=True), prob, keep_bg, hard)


def aggregate_wbg_vujas(prob: torch.Tensor, keep_bg: bool = False, hard: bool = False) -> torch.Tensor:
    """CiVOS's multi-object aggregation of the click model's masks: like aggregate_wbg but with
    bg = min_i (1 - p_i), the background of the most confident object, instead of the product."""
    return _softmax_with_background(torch.min(1 - prob, dim=0, keepdim=True).values, prob, keep_bg, hard)


def aggregate_sbg(prob: torch.Tensor, keep_bg: bool = False, hard: bool = False) -> torch.Tensor:
    """Like aggregate_wbg but with a constant background probability of 0.5 (GUI interactions)."""
    return _softmax_with_background(torch.full_like(prob[:1], 0.5), prob, keep_bg, hard)


def aggregate_wbg_channel(prob: torch.Tensor, keep_bg: bool = False,
                          hard: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """[B,K,H,W] -> (logits [B,K+1,H,W], softmax with or without bg); used for training losses."""
    bg = torch.prod(1 - prob, dim=1, keepdim=True)
    logits = _logits(torch.cat([bg, prob], dim=1), hard)
    new_prob = F.softmax(logits, dim=1)
    return logits, (new_prob if keep_bg else new_prob[:, 1:])
