"""The propagation decoder split for inference: its query-only work once per frame, the rest once per object.

The decoder's input is cat[read-out, query value v16]; a conv over a concatenation is the sum of convs over its
parts, conv(cat[r, v]) = conv_r(r) + conv_v(v), so the v16 halves of the first block and the whole skip paths on
f8/f4 (57 % of the decoder's time) depend on the query frame alone and are computed once and cached.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.propagation.decoder import Decoder


class DecoderQuery(NamedTuple):
    """Everything of the decoder that depends on the query frame only.

    s8/s4: processed skip features [1, C, H/8 or H/4, ...]; conv1_v / shortcut_v: the query-value half of the
    first block's conv1 (on ReLU(v16)) and of its shortcut (on v16), biases included, [1, dims[0], h, w].
    """
    s8: torch.Tensor
    s4: torch.Tensor
    conv1_v: torch.Tensor
    shortcut_v: torch.Tensor


class FusedConv(nn.Module):
    """conv(relu(x) if relu_input else x) + residual, then a ReLU if relu_output: the split decoder's convs with
    their neighbouring elementwise ops, which a WinogradConv2d with the same flags runs inside its transforms."""

    def __init__(self, conv: nn.Conv2d, relu_input: bool = False, relu_output: bool = False):
        super().__init__()
        self.conv, self.relu_input, self.relu_output = conv, relu_input, relu_output

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        y = self.conv(F.relu(x) if self.relu_input else x)
        if residual is not None:
            y = y + residual
        return F.relu(y) if self.relu_output else y


def split_input_channels(conv: nn.Conv2d, first: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    """A conv over cat[a, b] (a has `first` channels) as (conv_a without bias, conv_b with the bias)."""
    parts = []
    for weight, bias in ((conv.weight[:, :first], None), (conv.weight[:, first:], conv.bias)):
        part = nn.Conv2d(weight.shape[1], conv.out_channels, conv.kernel_size, padding=conv.padding,
                         bias=bias is not None).to(conv.weight.device, conv.weight.dtype)
        part.weight = nn.Parameter(weight.detach().contiguous(), requires_grad=False)
        if bias is not None:
            part.bias = nn.Parameter(bias.detach(), requires_grad=False)
        parts.append(part)
    return parts[0], parts[1]


class SplitDecoder(nn.Module):
    """Inference form of a Decoder: query_parts(v16, f8, f4) once per frame, forward(readout, parts) per object.

    Equals decoder(cat[readout, v16], f8, f4) up to float summation order. The skip paths and the rest of the
    decoder are the given decoder's own modules; only the first block's two input convs are split (FusedConv:
    with their ReLUs and sums).
    """

    def __init__(self, decoder: Decoder, value_dim: int):
        super().__init__()
        block = decoder.compress
        if block.downsample is None:
            raise ValueError('the split decoder needs a projection shortcut in `compress` (indim != dims[0])')
        conv1_r, conv1_v = split_input_channels(block.conv1, value_dim)
        self.conv1_r = FusedConv(conv1_r, relu_input=True, relu_output=True)  # relu(conv(relu(r)) + conv1_v)
        self.conv1_v = FusedConv(conv1_v, relu_input=True)
        self.shortcut_r, self.shortcut_v = (FusedConv(c) for c in split_input_channels(block.downsample, value_dim))
        self.conv2 = FusedConv(block.conv2)
        self.decoder = decoder

    def query_parts(self, v16: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor) -> DecoderQuery:
        """Precompute the query-only work; v16 [1,Cv,h,w] is the second half of the decoder input."""
        d = self.decoder
        return DecoderQuery(d.up_16_8.skip(f8), d.up_8_4.skip(f4), self.conv1_v(v16), self.shortcut_v(v16))

    def forward(self, readout: torch.Tensor, q: DecoderQuery) -> torch.Tensor:
        """readout [K,Cv,h,w] + precomputed query parts -> logits [K,1,16h,16w]."""
        h = self.conv1_r(readout, q.conv1_v)
        x = self.conv2(h, self.shortcut_r(readout, q.shortcut_v))
        return self.decoder.upsample_and_predict(x, q.s8, q.s4)
