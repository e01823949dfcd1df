"""FusionNet: reconciles two propagations from the aligned difference maps of the newer interaction."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class FusionNet(nn.Module):
    """Full-resolution 3x3 conv net over [image, old mask, new mask, A+, A-, nc, nr] (9 channels) -> logits."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.conv1 = nn.Sequential(_conv(9, width), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(_conv(width, width), nn.ReLU(inplace=True), _conv(width, width))
        self.conv3 = nn.Sequential(_conv(width, width), nn.ReLU(inplace=True), _conv(width, width))
        self.final_conv = _conv(width, 1)

    @staticmethod
    def stack_inputs(im: torch.Tensor, seg1: torch.Tensor, seg2: torch.Tensor, attn: torch.Tensor,
                     time: torch.Tensor) -> torch.Tensor:
        """im [B,3,H,W], seg1 (previous round) / seg2 (this round) [B,1,H,W], attn [B,2,H,W] = [A+, A-],
        time [B,2] = [nc, nr] (distance to the old interaction first) -> the network input [B,9,H,W]."""
        b, _, h, w = im.shape
        planes = time.view(b, 2, 1, 1).expand(b, 2, h, w)
        return torch.cat([im, seg1, seg2, attn, planes.to(im.dtype)], dim=1)

    def forward(self, im: torch.Tensor, seg1: torch.Tensor, seg2: torch.Tensor, attn: torch.Tensor,
                time: torch.Tensor) -> torch.Tensor:
        """Inputs as in stack_inputs -> logits [B,1,H,W]."""
        x = self.conv1(self.stack_inputs(im, seg1, seg2, attn, time))
        x = F.relu(x + self.conv2(x))
        x = F.relu(x + self.conv3(x))
        return self.final_conv(x)
