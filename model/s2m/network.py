"""S2M network (MiVOS §3.2, docs/mivos.md): DeepLabV3+ with a 6-channel dilated ResNet backbone, output stride 16.

Input channels: [R, G, B (ImageNet-normalised), previous mask of this object, positive map, negative map].
Output: one logit map per sample at the input resolution; sigmoid gives the object probability.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.resnet import make_layer, make_stem, stage_channels
from model.s2m.deeplab import DeepLabHeadV3Plus

IN_CHANNELS = 6


class DilatedResNet(nn.Module):
    """ResNet trunk whose layer4 dilates instead of striding (output stride 16); returns (layer1, layer4) features."""

    def __init__(self, arch: str = 'resnet50', in_channels: int = IN_CHANNELS):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = make_stem(in_channels)
        self.layer1, _ = make_layer(arch, 1, stride=1)
        self.layer2, _ = make_layer(arch, 2)
        self.layer3, dilation = make_layer(arch, 3)
        self.layer4, _ = make_layer(arch, 4, dilate=True, dilation=dilation)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low_level = self.layer1(x)  # [B, C1, H/4, W/4]
        return low_level, self.layer4(self.layer3(self.layer2(low_level)))  # [B, C4, H/16, W/16]


class S2M(nn.Module):
    """Scribble-to-Mask DeepLabV3+; the default is the released network (state dict = manifests/s2m.json).

    `arch='resnet18'` with a small `head_channels` gives a light variant for CPU experiments.
    """

    def __init__(self, arch: str = 'resnet50', head_channels: int = 256, rates: tuple[int, int, int] = (6, 12, 18)):
        super().__init__()
        self.backbone = DilatedResNet(arch)
        low_level_channels, _, _, out_channels = stage_channels(arch)
        self.classifier = DeepLabHeadV3Plus(out_channels, low_level_channels, num_classes=1, rates=rates,
                                            channels=head_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 6, H, W] -> logits [B, 1, H, W]."""
        if x.dim() != 4 or x.shape[1] != IN_CHANNELS:
            raise ValueError(f'S2M expects [B, {IN_CHANNELS}, H, W] (RGB, prev mask, pos, neg), got {tuple(x.shape)}')
        logits = self.classifier(*self.backbone(x))  # [B, 1, H/4, W/4]
        return F.interpolate(logits, size=x.shape[-2:], mode='bilinear', align_corners=False)
