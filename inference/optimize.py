"""Inference-time network transformations: BatchNorm folding, the split decoder, Winograd convolutions.

The trained / loaded module is never modified: every transformation works on a copy whose unchanged parts share
the original's tensors, so the state-dict layout used for loading and training stays untouched.
"""
from __future__ import annotations

import copy
import logging
import weakref
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn

from inference.onednn import PackedConv2d, onednn_available, pack_trunk
from inference.split_decoder import FusedConv, SplitDecoder
from inference.winograd import (WinogradConv2d, WinogradKeyValue, WinogradResBlock, is_eligible,
                                winograd_is_faster)
from model.propagation import PropagationNetwork
from model.propagation.decoder import ResBlock
from model.propagation.encoders import KeyValue

log = logging.getLogger(__name__)


def folded_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new conv computing bn(conv(x)) with eval statistics: W' = W·g/σ, b' = (b - μ)·g/σ + β, σ = sqrt(var+eps)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError('cannot fold a BatchNorm without running statistics (track_running_stats=False)')
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)  # [Cout]
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(scale)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, groups=conv.groups, bias=True, padding_mode=conv.padding_mode)
    dtype = conv.weight.dtype
    fused.weight = nn.Parameter((conv.weight.detach().double() * scale.view(-1, 1, 1, 1)).to(dtype),
                                requires_grad=False)
    fused.bias = nn.Parameter(((bias - bn.running_mean.double()) * scale + bn.bias.detach().double()).to(dtype),
                              requires_grad=False)
    return fused.to(conv.weight.device)


def _conv_bn_pairs(module: nn.Module) -> list[tuple[str, str]]:
    """Child names (conv, bn) of module where bn directly follows conv: convN/bnN attributes or Sequential neighbours."""
    children = dict(module.named_children())
    if isinstance(module, nn.Sequential):
        names = list(children)
        return [(a, b) for a, b in zip(names, names[1:])
                if isinstance(children[a], nn.Conv2d) and isinstance(children[b], nn.BatchNorm2d)]
    return [(f'conv{name[2:]}', name) for name, child in children.items()
            if name.startswith('bn') and isinstance(child, nn.BatchNorm2d)
            and isinstance(children.get(f'conv{name[2:]}'), nn.Conv2d)]


def copy_modules(net: nn.Module) -> nn.Module:
    """A copy of net's module tree that shares every parameter and buffer (no extra memory): safe to transform."""
    return copy.deepcopy(net, {id(t): t for t in [*net.parameters(), *net.buffers()]})


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Copy of an eval-mode net with every conv -> BatchNorm pair replaced by one conv (BN becomes Identity).

    All parameters not folded are shared with `net` (no extra memory); the modules are copies.
    Valid only for inference (eval-mode statistics); outputs equal the original up to float rounding.
    """
    if net.training:
        raise ValueError('fold_batchnorm needs an eval-mode network (call .eval() first): '
                         'training-mode BatchNorm uses batch statistics, which cannot be folded')
    folded = copy_modules(net)
    count = 0
    for module in folded.modules():
        for conv_name, bn_name in _conv_bn_pairs(module):
            setattr(module, conv_name, folded_conv(getattr(module, conv_name), getattr(module, bn_name)))
            setattr(module, bn_name, nn.Identity())
            count += 1
    log.debug('folded %d BatchNorm layers', count)
    return folded


ConvAlgorithm = Literal['auto', 'winograd', 'direct']
CONV_ALGORITHMS = ('auto', 'winograd', 'direct')
_FASTER: dict[tuple, bool] = {}  # (C_in, C_out, h, w, dtype, threads, packed) -> Winograd faster (per process)


def _winograd_wins(conv: nn.Conv2d, size: tuple[int, int], packed: bool = False) -> bool:
    """Winograd measured faster than the direct conv (packed: than a packed oneDNN conv + ReLU) at this size."""
    key = (conv.in_channels, conv.out_channels, *size, conv.weight.dtype, torch.get_num_threads(), packed)
    if key not in _FASTER:
        baseline = PackedConv2d(conv, (1, conv.in_channels, *size), relu=True) if packed else None
        _FASTER[key] = winograd_is_faster(conv, *size, baseline=baseline)
        log.debug('conv %d->%d at %dx%d: %s', conv.in_channels, conv.out_channels, *size,
                  'Winograd' if _FASTER[key] else 'direct')
    return _FASTER[key]


@dataclass
class InferenceNetwork:
    """What the optimised InferenceCore runs: the folded propagation net (encoders, key/value projections,
    attention) and its split decoder, with Winograd convolutions where chosen and, on the CPU, encoders whose
    convs are packed oneDNN primitives with fused ReLU / residual add."""
    net: PropagationNetwork
    decoder: SplitDecoder
    winograd_convs: int
    packed_encoders: bool


_LAST: dict[tuple, InferenceNetwork] = {}  # the latest optimised network, reused by the next video of its size


def _tensor_version(t: torch.Tensor) -> int | tuple[int, float]:
    """t's version counter; inference tensors (created under torch.inference_mode) have none, so their storage
    address and sum stand in for it."""
    if t.is_inference():
        with torch.inference_mode():
            return t.data_ptr(), float(t.double().sum())
    return t._version


def _state_key(net: nn.Module) -> tuple:
    """Identity and tensor versions of net: changes when it is replaced or any parameter / buffer is modified."""
    return id(net), net.training, tuple(_tensor_version(t) for t in [*net.parameters(), *net.buffers()])


def optimize_for_inference(prop_net: PropagationNetwork, padded_size: tuple[int, int],
                           conv_algorithm: ConvAlgorithm = 'auto') -> InferenceNetwork:
    """Fold BatchNorm, split the decoder, and run the large 3x3 convs (decoder, key/value projections) with
    Winograd F(4x4,3x3) where it is faster: 'auto' times both algorithms once per conv shape at this video's
    feature sizes (CPU only; on CUDA cuDNN chooses), 'winograd' uses it for every such conv, 'direct' never.
    On the CPU the two encoders' convs become oneDNN primitives with weights reordered for this size and their
    ReLU / residual add fused (inference.onednn), and their blocks' inner stride-1 3x3 convs Winograd ones where
    conv_algorithm chooses it (for 'auto': timed against the packed oneDNN conv).

    The result is kept until the next call with another network, size or setting (or until prop_net is freed
    or modified), so that consecutive videos of one size share it: transforming the weights takes seconds.
    """
    if conv_algorithm not in CONV_ALGORITHMS:
        raise ValueError(f'conv_algorithm must be one of {CONV_ALGORITHMS}, got {conv_algorithm!r}')
    key = (_state_key(prop_net), tuple(padded_size), conv_algorithm, torch.get_num_threads())
    if key in _LAST:
        return _LAST[key]
    net = fold_batchnorm(prop_net)
    decoder = SplitDecoder(copy_modules(net.decoder), net.kv_q_f16.val_proj.out_channels)
    hp, wp = padded_size
    s16, s8, s4 = (hp // 16, wp // 16), (hp // 8, wp // 8), (hp // 4, wp // 4)
    device = next(net.parameters()).device
    on_cpu = device.type == 'cpu'

    def chosen(conv: nn.Module, size: tuple[int, int], packed: bool = False) -> bool:
        if conv_algorithm == 'direct' or not is_eligible(conv):
            return False
        return conv_algorithm == 'winograd' or (on_cpu and conv.out_channels >= 16
                                                and _winograd_wins(conv, size, packed))

    count = 0
    packed = onednn_available(device)
    if packed:
        for encoder in (net.rgb_encoder, net.mask_rgb_encoder):
            pack_trunk(encoder, (1, encoder.conv1.in_channels, hp, wp),
                       winograd=lambda conv, shape: chosen(conv, shape[2:], packed=True))
            count += sum(isinstance(m, WinogradConv2d) for m in encoder.modules())
    for name in ('kv_q_f16', 'kv_m_f16'):
        kv: KeyValue = getattr(net, name)
        if conv_algorithm == 'direct' or not (is_eligible(kv.key_proj) and is_eligible(kv.val_proj)):
            continue
        fused = nn.Conv2d(kv.key_proj.in_channels, kv.key_proj.out_channels + kv.val_proj.out_channels, 3,
                          padding=1).to(kv.val_proj.weight.device)  # stands in for the fused conv in the timing
        if chosen(fused, s16):
            setattr(net, name, WinogradKeyValue(kv.key_proj, kv.val_proj))
            count += 2
    for name, part in list(decoder.named_children()):  # the split first block: FusedConvs at 1/16
        if isinstance(part, FusedConv) and chosen(part.conv, s16):
            setattr(decoder, name, WinogradConv2d(part.conv, part.relu_input, part.relu_output))
            count += 1
    d = decoder.decoder
    for up, size in ((d.up_16_8, s8), (d.up_8_4, s4)):
        for name in ('skip_conv2', 'out_conv'):  # ResBlocks: whole (ReLUs and residual fused) or conv by conv
            block: ResBlock = getattr(up, name)
            convs = [c for c in (block.conv1, block.conv2, block.downsample) if c is not None]
            if all(chosen(c, size) for c in convs):
                setattr(up, name, WinogradResBlock(block))
                count += len(convs)
                continue
            for child, conv in list(block.named_children()):
                if chosen(conv, size):
                    setattr(block, child, WinogradConv2d(conv))
                    count += 1
    for parent, child, size in ((d.up_16_8, 'skip_conv1', s8), (d.up_8_4, 'skip_conv1', s4), (d, 'pred', s4)):
        if chosen(getattr(parent, child), size):
            setattr(parent, child, WinogradConv2d(getattr(parent, child)))
            count += 1
    log.debug('%d convolutions run with Winograd F(4x4,3x3)', count)
    fast = InferenceNetwork(net, decoder, count, packed)
    _LAST.clear()  # one cached network at most: a new size or network replaces it
    _LAST[key] = fast
    weakref.finalize(prop_net, _LAST.pop, key, None)  # and it goes with the network it was made from
    return fast
