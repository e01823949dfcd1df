"""Click encoding of RITM: rows (y, x, order) -> one binary disk map per click sign, and the learned map scale."""
from __future__ import annotations

import torch
import torch.nn as nn

_FAR = 1e6  # squared distance given to padding rows, so that they never switch a pixel on


class DiskMaps(nn.Module):
    """Clicks [B, 2P, 3] (first P rows positives, last P negatives, padding -1) -> maps [B, 2, H, W].

    A pixel is on when its squared distance to a click is at most radius^2 (use_disks); otherwise the map is
    RITM's tanh(2 * distance / radius) distance transform.
    """

    def __init__(self, radius: float, use_disks: bool = True):
        super().__init__()
        self.radius = radius
        self.use_disks = use_disks

    def forward(self, points: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, n, _ = points.shape
        yx = points[..., :2].reshape(b * n, 2, 1, 1).float()  # [B*2P, 2, 1, 1]
        rows = torch.arange(height, dtype=torch.float32, device=points.device)
        cols = torch.arange(width, dtype=torch.float32, device=points.device)
        grid = torch.stack(torch.meshgrid(rows, cols, indexing='ij'))[None]  # [1, 2, H, W]
        diff = grid - yx
        if not self.use_disks:
            diff = diff / self.radius
        sq = diff * diff
        dist = sq[:, :1] + sq[:, 1:]  # [B*2P, 1, H, W]
        padding = yx.flatten(1).max(dim=1).values < 0
        dist[padding] = _FAR
        dist = dist.view(b * 2, n // 2, height, width).min(dim=1).values.view(b, 2, height, width)
        if self.use_disks:
            return (dist <= self.radius ** 2).float()
        return torch.tanh(2 * dist.sqrt())


class ScaleLayer(nn.Module):
    """Multiplies by |scale|, one learned scalar (RITM's ScaleLayer with lr_mult 1)."""

    def __init__(self, init_value: float = 0.05):
        super().__init__()
        self.scale = nn.Parameter(torch.full((1,), init_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.abs()
