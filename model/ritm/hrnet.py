"""HRNet (Wang et al. 2019) as RITM builds it: a stem, one bottleneck stage, then stages of parallel
resolutions that exchange features by multi-resolution fusion; the output concatenates all resolutions."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.resnet import BasicBlock, Bottleneck, conv


def upsample_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with align_corners=True (RITM's choice everywhere)."""
    return F.interpolate(x, size=size, mode='bilinear', align_corners=True)


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """conv (no bias) -> BN [-> ReLU]; indices 0 and 1 as in the released checkpoints."""
    layers = [conv(cin, cout, k, stride), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def downsampler(cin: int, cout: int, steps: int) -> nn.Sequential:
    """steps stride-2 3x3 conv-BN layers from a higher resolution branch; ReLU between, not after the last."""
    return nn.Sequential(*[conv_bn(cin, cout if s == steps - 1 else cin, 3, 2, relu=s < steps - 1)
                           for s in range(steps)])


class HRModule(nn.Module):
    """One multi-resolution module: a residual branch per resolution, then every output sums all branches."""

    def __init__(self, channels: list[int], num_blocks: int):
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(c, c) for _ in range(num_blocks)])
                                      for c in channels)
        n = len(channels)
        self.fuse_layers = nn.ModuleList(nn.ModuleList(
            conv_bn(channels[j], channels[i], 1, relu=False) if j > i
            else None if j == i
            else downsampler(channels[j], channels[i], i - j)
            for j in range(n)) for i in range(n))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, fuse in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else fuse[0](xs[0])
            for j in range(1, len(xs)):
                if j == i:
                    y = y + xs[j]
                elif j > i:
                    y = y + upsample_to(fuse[j](xs[j]), xs[i].shape[-2:])
                else:
                    y = y + fuse[j](xs[j])
            out.append(self.relu(y))
        return out


def transition(before: list[int], after: list[int]) -> nn.ModuleList:
    """Adapts the branch list to the next stage: a 3x3 conv where widths differ, new branches by stride-2 convs
    from the lowest resolution (every conv followed by BN and ReLU)."""
    layers: list[nn.Module | None] = []
    for i, c in enumerate(after):
        if i < len(before):
            layers.append(conv_bn(before[i], c, 3) if before[i] != c else None)
        else:
            steps = i + 1 - len(before)
            layers.append(nn.Sequential(*[conv_bn(before[-1], c if s == steps - 1 else before[-1], 3, 2)
                                          for s in range(steps)]))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """Stem (two stride-2 convs, click features added between them) -> bottleneck stage -> stages 2-4 with
    2, 3, 4 resolutions of width w, 2w, 4w, 8w; returns the list of the last stage's outputs."""

    def __init__(self, width: int, small: bool):
        super().__init__()
        num_blocks = 2 if small else 4
        self.conv1 = conv(3, 64, 3, 2)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = conv(64, 64, 3, 2)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        downsample = nn.Sequential(conv(64, 256, 1), nn.BatchNorm2d(256))
        self.layer1 = nn.Sequential(Bottleneck(64, 64, downsample=downsample),
                                    *[Bottleneck(256, 64) for _ in range(num_blocks - 1)])
        channels = [[width * 2 ** b for b in range(n)] for n in (2, 3, 4)]
        modules = (1, 3 if small else 4, 2 if small else 3)
        before = [256]
        for stage, (widths, count) in enumerate(zip(channels, modules), start=2):
            setattr(self, f'transition{stage - 1}', transition(before, widths))
            setattr(self, f'stage{stage}', nn.Sequential(*[HRModule(widths, num_blocks) for _ in range(count)]))
            before = widths
        self.out_channels = sum(before)

    def forward(self, x: torch.Tensor, click_features: torch.Tensor | None = None) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        if click_features is not None:
            x = x + click_features
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for stage in (2, 3, 4):
            layers = getattr(self, f'transition{stage - 1}')
            xs = [xs[i] if t is None else t(xs[min(i, len(xs) - 1)]) for i, t in enumerate(layers)]
            xs = getattr(self, f'stage{stage}')(xs)
        return xs


def concat_resolutions(xs: list[torch.Tensor]) -> torch.Tensor:
    """All branches upsampled to the highest resolution and concatenated: [B, w+2w+4w+8w, H/4, W/4]."""
    size = xs[0].shape[-2:]
    return torch.cat([xs[0]] + [upsample_to(x, size) for x in xs[1:]], dim=1)
