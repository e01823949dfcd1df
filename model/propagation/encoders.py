"""Memory (value) and query (key) encoders and key/value projections of MiVOS's propagation module."""
from __future__ import annotations

import torch
import torch.nn as nn

from model.resnet import make_layer, make_stem, stage_channels


class MaskRGBEncoder(nn.Module):
    """Memory encoder: [image, mask, others] (5 ch; 4 for the single-object stage) -> f16.

    ResNet truncated after layer3; every conv has a bias (as in the official weights).
    """

    def __init__(self, arch: str = 'resnet50', single_object: bool = False, base_width: int = 64):
        super().__init__()
        self.single_object = single_object
        self.conv1, self.bn1, self.relu, self.maxpool = make_stem(4 if single_object else 5, True, base_width)
        self.layer1, _ = make_layer(arch, 1, stride=1, bias=True, base_width=base_width)
        self.layer2, _ = make_layer(arch, 2, bias=True, base_width=base_width)
        self.layer3, _ = make_layer(arch, 3, bias=True, base_width=base_width)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, others: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.cat([image, mask] if self.single_object else [image, mask, others], dim=1)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))  # [B, C16, H/16, W/16]


class RGBEncoder(nn.Module):
    """Query encoder: image -> (f16, f8, f4). Its first stage is named `res2` in the official weights."""

    def __init__(self, arch: str = 'resnet50', base_width: int = 64):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = make_stem(3, base_width=base_width)
        self.res2, _ = make_layer(arch, 1, stride=1, base_width=base_width)
        self.layer2, _ = make_layer(arch, 2, base_width=base_width)
        self.layer3, _ = make_layer(arch, 3, base_width=base_width)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class KeyValue(nn.Module):
    """Two independent 3x3 projections of f16: key (Ck) and value (Cv)."""

    def __init__(self, indim: int, keydim: int, valdim: int):
        super().__init__()
        self.key_proj = nn.Conv2d(indim, keydim, 3, padding=1)
        self.val_proj = nn.Conv2d(indim, valdim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.key_proj(x), self.val_proj(x)


def encoder_channels(arch: str, base_width: int = 64) -> tuple[int, int, int]:
    """(f16, f8, f4) channel counts of an encoder trunk."""
    c4, c8, c16, _ = stage_channels(arch, base_width)
    return c16, c8, c4
