"""DeepLabV3+ head (ASPP + low-level decoder) with the module names of the VainF / S2M checkpoints."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_relu(cin: int, cout: int, k: int = 1, dilation: int = 1) -> list[nn.Module]:
    """Bias-free k x k conv (same padding) -> BN -> ReLU, as a list to splice into an nn.Sequential."""
    return [nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ASPPPooling(nn.Sequential):
    """Image-level branch: global average -> 1x1 conv -> BN -> ReLU -> broadcast back (keys `1.*`, `2.*`)."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.AdaptiveAvgPool2d(1), *conv_bn_relu(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = super().forward(x)  # [B, C, 1, 1]
        return F.interpolate(pooled, size=x.shape[-2:], mode='bilinear', align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three 3x3 atrous branches and image pooling, fused by a 1x1 conv."""

    def __init__(self, cin: int, rates: tuple[int, int, int] = (6, 12, 18), cout: int = 256):
        super().__init__()
        branches = [nn.Sequential(*conv_bn_relu(cin, cout))]
        branches += [nn.Sequential(*conv_bn_relu(cin, cout, 3, rate)) for rate in rates]
        branches.append(ASPPPooling(cin, cout))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(*conv_bn_relu(len(branches) * cout, cout), nn.Dropout(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))  # [B, 5*C -> C, h, w]


class DeepLabHeadV3Plus(nn.Module):
    """ASPP on the stride-16 features, upsampled and fused with projected stride-4 features -> logits at stride 4."""

    def __init__(self, in_channels: int, low_level_channels: int, num_classes: int = 1,
                 rates: tuple[int, int, int] = (6, 12, 18), channels: int = 256, low_level_out: int = 48):
        super().__init__()
        self.project = nn.Sequential(*conv_bn_relu(low_level_channels, low_level_out))
        self.aspp = ASPP(in_channels, rates, channels)
        self.classifier = nn.Sequential(*conv_bn_relu(low_level_out + channels, channels, 3),
                                        nn.Conv2d(channels, num_classes, 1))

    def forward(self, low_level: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        low = self.project(low_level)  # [B, 48, H/4, W/4]
        high = F.interpolate(self.aspp(out), size=low.shape[-2:], mode='bilinear', align_corners=False)
        return self.classifier(torch.cat([low, high], dim=1))  # [B, num_classes, H/4, W/4]
