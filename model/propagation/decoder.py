"""Decoder of the propagation module: compress the read-out, upsample with query skip features."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    """Pre-activation residual block without BN; the projection shortcut is a 3x3 conv."""

    def __init__(self, indim: int, outdim: int | None = None):
        super().__init__()
        outdim = outdim or indim
        self.downsample = nn.Conv2d(indim, outdim, 3, padding=1) if indim != outdim else None
        self.conv1 = nn.Conv2d(indim, outdim, 3, padding=1)
        self.conv2 = nn.Conv2d(outdim, outdim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv2(F.relu(self.conv1(F.relu(x))))
        return r + (x if self.downsample is None else self.downsample(x))


class UpsampleBlock(nn.Module):
    """x2 bilinear upsampling of `up` plus a processed skip feature, then a ResBlock."""

    def __init__(self, skip_c: int, up_c: int, out_c: int):
        super().__init__()
        self.skip_conv1 = nn.Conv2d(skip_c, up_c, 3, padding=1)
        self.skip_conv2 = ResBlock(up_c, up_c)
        self.out_conv = ResBlock(up_c, out_c)

    def skip(self, skip: torch.Tensor) -> torch.Tensor:
        """The query-only half: skip [B, skip_c, 2h, 2w] -> [B, up_c, 2h, 2w]."""
        return self.skip_conv2(self.skip_conv1(skip))

    def merge(self, s: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """Processed skip s (batch 1 or B, broadcast over objects) + upsampled up [B, up_c, h, w] -> ResBlock."""
        return self.out_conv(s + F.interpolate(up, scale_factor=2, mode='bilinear', align_corners=False))

    def forward(self, skip: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """skip [1 or B, skip_c, 2h, 2w] (query-only: computed once, broadcast over objects), up [B, up_c, h, w]."""
        return self.merge(self.skip(skip), up)


class Decoder(nn.Module):
    """[read-out, query value] at 1/16 -> per-object logits at full (padded) resolution."""

    def __init__(self, indim: int = 1024, f8_c: int = 512, f4_c: int = 256, dims: tuple[int, int, int] = (512, 256, 256)):
        super().__init__()
        self.compress = ResBlock(indim, dims[0])
        self.up_16_8 = UpsampleBlock(f8_c, dims[0], dims[1])
        self.up_8_4 = UpsampleBlock(f4_c, dims[1], dims[2])
        self.pred = nn.Conv2d(dims[2], 1, 3, padding=1)

    def forward(self, f16: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor) -> torch.Tensor:
        """f16 [B,indim,h,w]; f8/f4 with batch 1 or B -> logits [B,1,16h,16w]."""
        return self.upsample_and_predict(self.compress(f16), self.up_16_8.skip(f8), self.up_8_4.skip(f4))

    def upsample_and_predict(self, x: torch.Tensor, s8: torch.Tensor, s4: torch.Tensor) -> torch.Tensor:
        """Compressed features x [B,dims[0],h,w] + processed skips s8/s4 (batch 1 or B) -> logits [B,1,16h,16w]."""
        x = self.up_16_8.merge(s8, x)
        x = self.up_8_4.merge(s4, x)
        x = self.pred(F.relu(x))
        return F.interpolate(x, scale_factor=4, mode='bilinear', align_corners=False)
