"""The encoders' convolutions through oneDNN with weights reordered once and ReLU / residual add fused (CPU).

A plain nn.Conv2d call on the CPU reorders its weight into oneDNN's blocked layout on every call, and the ReLU and
the residual add of each ResNet block are separate passes over the feature map. Here each conv of a (BN-folded)
ResNet trunk keeps its weight pre-reordered for the video's input size, and runs as one oneDNN primitive with the
ReLU, or the residual add and ReLU, applied in its epilogue: the same arithmetic in fewer passes; the
full-resolution fusion network gets the same treatment (PackedFusionNet). Measurements: docs/speed.md.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from accel.winograd import WinogradConv2d, is_eligible
from model.fusion import FusionNet
from model.resnet import BasicBlock, Bottleneck

Shape = tuple[int, int, int, int]
WinogradChoice = Callable[[nn.Conv2d, Shape], bool]  # (conv, its input shape) -> run it with Winograd instead


def onednn_available(device: torch.device) -> bool:
    """True where the fused oneDNN convolution exists: a CPU device and a PyTorch built with oneDNN."""
    return (device.type == 'cpu' and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))


def conv_output_shape(conv: nn.Conv2d, shape: Shape) -> Shape:
    """[N, C_in, H, W] -> [N, C_out, H', W'] of conv."""
    n, _, *size = shape
    out = [(s + 2 * p - d * (k - 1) - 1) // st + 1
           for s, p, d, k, st in zip(size, conv.padding, conv.dilation, conv.kernel_size, conv.stride)]
    return n, conv.out_channels, out[0], out[1]


class PackedConv2d(nn.Module):
    """Inference-only stand-in for a zero-padded nn.Conv2d, optionally followed by ReLU (relu=True): its weight
    is reordered once for inputs of `input_shape` (other shapes still work, reordered on the fly by oneDNN).

    forward(x, residual) computes relu(conv(x) + residual), the end of a ResNet block, in the same primitive.
    """

    def __init__(self, conv: nn.Conv2d, input_shape: Shape, relu: bool = False):
        super().__init__()
        if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise ValueError(f'PackedConv2d needs an explicitly zero-padded conv, got {conv}')
        self.in_channels, self.out_channels, self.kernel_size = conv.in_channels, conv.out_channels, conv.kernel_size
        self.relu = relu
        self.geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        with torch.no_grad():  # an opaque oneDNN tensor: not a parameter, never saved, CPU only
            self.weight = torch._C._nn.mkldnn_reorder_conv2d_weight(conv.weight.detach().contiguous().to_mkldnn(),
                                                                    *self.geometry, list(input_shape))
        self.register_buffer('bias', None if conv.bias is None else conv.bias.detach(), persistent=False)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError('PackedConv2d is inference-only (it has no backward): call it under torch.no_grad()')
        conv = torch.ops.mkldnn._convolution_pointwise
        if residual is None:
            return conv(x, self.weight, self.bias, *self.geometry, 'relu' if self.relu else 'none', [], '')
        return conv.binary(x, residual, self.weight, self.bias, *self.geometry, 'add', None,
                           'relu' if self.relu else None, [], '')

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'{"fused ReLU, " if self.relu else ""}oneDNN, pre-reordered')


def _never(conv: nn.Conv2d, shape: Shape) -> bool:
    return False


class PackedResBlock(nn.Module):
    """A BN-folded BasicBlock / Bottleneck as packed convs: ReLU after every conv but the last, whose epilogue
    adds the shortcut and applies the block's final ReLU. A stride-1 3x3 conv before the last runs as a Winograd
    conv with the ReLU in its output transform where winograd(conv, input shape) says so."""

    def __init__(self, block: BasicBlock | Bottleneck, input_shape: Shape, winograd: WinogradChoice = _never):
        super().__init__()
        names = ('conv1', 'conv2', 'conv3') if isinstance(block, Bottleneck) else ('conv1', 'conv2')
        for bn in (f'bn{i + 1}' for i in range(len(names))):
            if not isinstance(getattr(block, bn), nn.Identity):
                raise ValueError(f'PackedResBlock needs a BatchNorm-folded block (fold_batchnorm), {bn} is not')
        self.downsample = None
        if block.downsample is not None:
            conv, *rest = block.downsample
            if not all(isinstance(m, nn.Identity) for m in rest):
                raise ValueError('PackedResBlock needs a BatchNorm-folded shortcut (fold_batchnorm)')
            self.downsample = PackedConv2d(conv, input_shape)
        convs, shape = [], input_shape
        for name in names:
            conv = getattr(block, name)
            if name != names[-1] and is_eligible(conv) and winograd(conv, shape):
                convs.append(WinogradConv2d(conv, relu_output=True))
            else:
                convs.append(PackedConv2d(conv, shape, relu=True))  # the last one's ReLU follows the residual add
            shape = conv_output_shape(conv, shape)
        self.convs = nn.ModuleList(convs)
        self.output_shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        for conv in self.convs[:-1]:
            x = conv(x)
        return self.convs[-1](x, shortcut)


def pack_trunk(encoder: nn.Module, input_shape: Shape, winograd: WinogradChoice = _never) -> nn.Module:
    """Replace, in place, a BN-folded encoder's stem conv and ResNet blocks by packed oneDNN modules for inputs of
    input_shape [N, C, H, W] (the blocks' inner 3x3 convs by Winograd ones where winograd() chooses it); the
    encoder's own forward is unchanged (its stem ReLU is fused into conv1)."""
    shape = conv_output_shape(encoder.conv1, input_shape)
    encoder.conv1 = PackedConv2d(encoder.conv1, input_shape, relu=True)
    encoder.relu = nn.Identity()  # the encoders apply self.relu once, after conv1 (now fused)
    pool = encoder.maxpool
    shape = (*shape[:2], *((s + 2 * pool.padding - pool.kernel_size) // pool.stride + 1 for s in shape[2:]))
    for layer in (module for name, module in encoder.named_children() if isinstance(module, nn.Sequential)):
        for i, block in enumerate(layer):
            layer[i] = PackedResBlock(block, shape, winograd)
            shape = layer[i].output_shape
    return encoder


class PackedFusionNet(nn.Module):
    """Inference form of a FusionNet with packed convs: each residual stage is two primitives, the second adding
    the stage input and applying the ReLU in its epilogue. Same call signature and result as the FusionNet."""

    def __init__(self, net: FusionNet, input_shape: Shape):
        super().__init__()
        width_shape = conv_output_shape(net.conv1[0], input_shape)
        self.conv1 = PackedConv2d(net.conv1[0], input_shape, relu=True)
        self.stages = nn.ModuleList(nn.ModuleList([PackedConv2d(stage[0], width_shape, relu=True),
                                                   PackedConv2d(stage[2], width_shape, relu=True)])
                                    for stage in (net.conv2, net.conv3))
        self.final_conv = PackedConv2d(net.final_conv, width_shape)

    def forward(self, im: torch.Tensor, seg1: torch.Tensor, seg2: torch.Tensor, attn: torch.Tensor,
                time: torch.Tensor) -> torch.Tensor:
        x = self.conv1(FusionNet.stack_inputs(im, seg1, seg2, attn, time))
        for first, second in self.stages:
            x = second(first(x), x)  # relu(x + conv(relu(conv(x))))
        return self.final_conv(x)
