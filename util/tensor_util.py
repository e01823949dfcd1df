"""Padding to multiples of 16 exactly as MiVOS does it (split padding, zero fill)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

Pad = tuple[int, int, int, int]  # F.pad order: (left, right, top, bottom)


def padding_for(h: int, w: int, d: int = 16) -> Pad:
    """Return the (left, right, top, bottom) padding that makes (h, w) divisible by d."""
    dh = (-h) % d
    dw = (-w) % d
    return (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)


def pad_divide_by(x: torch.Tensor, d: int = 16) -> tuple[torch.Tensor, Pad]:
    """Zero-pad the last two dims of x to multiples of d; left/top get floor(diff/2)."""
    pad = padding_for(x.shape[-2], x.shape[-1], d)
    if any(pad):
        x = F.pad(x, pad)
    return x, pad


def unpad(x: torch.Tensor, pad: Pad) -> torch.Tensor:
    """Undo pad_divide_by on the last two dims."""
    left, right, top, bottom = pad
    if top + bottom > 0:
        x = x[..., top:x.shape[-2] - bottom, :]
    if left + right > 0:
        x = x[..., left:x.shape[-1] - right]
    return x


def label_map(prob: torch.Tensor) -> torch.Tensor:
    """Labels of a [K+1, ...] probability stack: uint8 [...], the index of the first maximum (argmax over dim 0
    for NaN-free inputs, K + 1 <= 256). A running comparison over the K+1 planes, much faster than torch.argmax's
    reduction over a short strided leading dim on the CPU (docs/speed.md)."""
    if prob.shape[0] > 256:
        raise ValueError(f'label_map gives uint8 labels: at most 256 planes, got {prob.shape[0]}')
    labels = torch.zeros(prob.shape[1:], dtype=torch.uint8, device=prob.device)
    best = prob[0]
    for k in range(1, prob.shape[0]):
        labels.masked_fill_(prob[k] > best, k)
        best = torch.maximum(best, prob[k])
    return labels


def one_hot(labels: torch.Tensor | np.ndarray, num_objects: int) -> torch.Tensor:
    """Integer [H, W] labels 0..K (tensor or array) -> float [K+1, 1, H, W] one-hot mask, background first."""
    labels = torch.as_tensor(labels).long()
    return F.one_hot(labels, num_objects + 1).permute(2, 0, 1)[:, None].float()  # [H,W,K+1] -> [K+1,1,H,W]
