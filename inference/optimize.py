"""Inference-time network transformations: eval-mode BatchNorm folded into the preceding convolutions.

The trained / loaded module is never modified: folding returns a copy whose unchanged parts share the original's
tensors, so the state-dict layout used for loading and training stays untouched.
"""
from __future__ import annotations

import copy
import logging

import torch
import torch.nn as nn

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


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Copy of an eval-mode net with every conv -> BatchNorm pair replaced by one conv (BN becomes Identity).

    Modules without such pairs and all parameters not folded are shared with `net` (no extra memory).
    Valid only for inference (eval-mode statistics); outputs equal the original up to float rounding.
    """
    if net.training:
        raise ValueError('fold_batchnorm needs an eval-mode network (call .eval() first): '
                         'training-mode BatchNorm uses batch statistics, which cannot be folded')
    has_pairs = {id(m) for m in net.modules() if _conv_bn_pairs(m)}
    needs_copy = {id(m) for m in net.modules() if any(id(sub) in has_pairs for sub in m.modules())}
    memo = {id(m): m for m in net.modules() if id(m) not in needs_copy}  # shared, not copied
    memo.update({id(t): t for t in [*net.parameters(), *net.buffers()]})
    folded = copy.deepcopy(net, memo)
    count = 0
    for module in folded.modules():
        for conv_name, bn_name in _conv_bn_pairs(module):
            setattr(module, conv_name, folded_conv(getattr(module, conv_name), getattr(module, bn_name)))
            setattr(module, bn_name, nn.Identity())
            count += 1
    log.debug('folded %d BatchNorm layers', count)
    return folded
