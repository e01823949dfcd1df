"""ResNet trunks (torchvision v1.5 topology) shared by the propagation encoders and S2M.

Our own builder so that one code path gives: conv biases (MiVOS's memory encoder has them, torchvision has
not), extra input channels, dilation instead of stride (DeepLabV3+ output stride 16), and key names equal to
torchvision's (`conv1`, `bn1`, `layerN.i.convj`, `downsample.{0,1}`) so ImageNet files map one to one.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def conv(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1, bias: bool = False) -> nn.Conv2d:
    """k x k convolution with 'same' padding for odd k (scaled by dilation)."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation, bias=bias)


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34)."""
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, bias: bool = False):
        super().__init__()
        self.conv1 = conv(cin, width, 3, stride, dilation, bias)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv(width, width, 3, 1, dilation, bias)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here, v1.5) -> 1x1 x4 (ResNet-50)."""
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, bias: bool = False):
        super().__init__()
        self.conv1 = conv(cin, width, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv(width, width, 3, stride, dilation, bias)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv(width, width * 4, 1, bias=bias)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# name -> (block, blocks per stage)
ARCHS: dict[str, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    'resnet10': (BasicBlock, (1, 1, 1, 1)),  # not a torchvision model: the tiny CPU propagation variant
    'resnet18': (BasicBlock, (2, 2, 2, 2)),
    'resnet34': (BasicBlock, (3, 4, 6, 3)),
    'resnet50': (Bottleneck, (3, 4, 6, 3)),
}


def stage_channels(arch: str, base_width: int = 64) -> tuple[int, int, int, int]:
    """Output channels of layer1..layer4 for an architecture name (base_width: channels of the stem, 64 in
    every torchvision ResNet; smaller values give narrower trunks)."""
    block, _ = ARCHS[arch]
    return tuple(base_width * m * block.expansion for m in (1, 2, 4, 8))  # type: ignore[return-value]


def make_stem(in_channels: int, bias: bool = False,
              base_width: int = 64) -> tuple[nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]:
    """conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2: stride 4, base_width channels."""
    return (nn.Conv2d(in_channels, base_width, 7, stride=2, padding=3, bias=bias), nn.BatchNorm2d(base_width),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))


def make_layer(arch: str, stage: int, stride: int = 2, dilate: bool = False, bias: bool = False,
               dilation: int = 1, base_width: int = 64) -> tuple[nn.Sequential, int]:
    """Stage `stage` (1-based) of `arch`; with dilate the stride becomes dilation (torchvision semantics).

    Returns the layer and the dilation to pass to the next stage.
    """
    block, counts = ARCHS[arch]
    width = base_width * 2 ** (stage - 1)
    cin = base_width if stage == 1 else base_width * 2 ** (stage - 2) * block.expansion
    previous_dilation = dilation
    if dilate:
        dilation *= stride
        stride = 1
    downsample = None
    if stride != 1 or cin != width * block.expansion:
        downsample = nn.Sequential(conv(cin, width * block.expansion, 1, stride, bias=bias),
                                   nn.BatchNorm2d(width * block.expansion))
    blocks = [block(cin, width, stride, previous_dilation, downsample, bias)]
    blocks += [block(width * block.expansion, width, 1, dilation, None, bias) for _ in range(1, counts[stage - 1])]
    return nn.Sequential(*blocks), dilation
