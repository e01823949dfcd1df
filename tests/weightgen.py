"""Deterministic synthetic weights from a checkpoint manifest (the golden vectors' generator rules).

One numpy RandomState(seed) draws every tensor in manifest order, in float64:
BN weight U(0.5,1.5), bias N(0,0.1), running_mean N(0,0.1), running_var U(0.5,1.5);
num_batches_tracked 0 (nothing drawn); conv/linear weights N(0, gain*sqrt(2/fan_in)) with gain 0.3 on a
bottleneck's conv3 (when the block has bn3), 0.25 on key projections, 0.1 on the decoder's last conv;
RITM's HRNet+OCR adds gain 0.2 on the second conv of every stage 2-4 residual branch, 0.3 on multi-resolution
fusion convs and the OCR classifier, 0.1 on the auxiliary classifier, and U(5,15) for the click maps' 1-D 'scale';
other biases N(0,0.01); anything else N(0,0.1).
"""
from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

MANIFESTS = Path(__file__).parent / 'data' / 'manifests'
_GAINS = tuple((re.compile(pattern), gain) for pattern, gain in (
    (r'(^|\.)key_proj\.weight$', 0.25),
    (r'(^|\.)decoder\.pred\.weight$', 0.1),
    (r'(^|\.)stage[234]\.\d+\.branches\.\d+\.\d+\.conv2\.weight$', 0.2),
    (r'(^|\.)fuse_layers\..*weight$', 0.3),
    (r'(^|\.)cls_head\.weight$', 0.3),
    (r'(^|\.)aux_head\.3\.weight$', 0.1),
))
_SCALE_RANGE = (5.0, 15.0)  # RITM's ScaleLayer on the click maps: clicks must change the output O(1)
_DTYPES = {'torch.float32': torch.float32, 'torch.float64': torch.float64, 'torch.float16': torch.float16,
           'torch.int64': torch.int64, 'torch.long': torch.int64}


def manifest_entries(name: str) -> list[dict]:
    """Ordered [{'name','shape','dtype'}] of an official checkpoint ('propagation', 'fusion', 's2m', 'ritm_h18s', ...)."""
    return json.loads((MANIFESTS / f'{name}.json').read_text())['entries']


def _split(name: str) -> tuple[str, str]:
    prefix, _, leaf = name.rpartition('.')
    return prefix, leaf


def _gain(name: str, prefix: str, bn_modules: set[str]) -> float:
    block, leaf = _split(prefix)
    if leaf == 'conv3' and f'{block}.bn3' in bn_modules:
        return 0.3
    for pattern, gain in _GAINS:
        if pattern.search(name):
            return gain
    return 1.0


def make_state_dict(entries: list[dict], seed: int) -> 'OrderedDict[str, torch.Tensor]':
    """Draw a manifest-shaped state dict, bit-identical to the golden vectors' weights."""
    rs = np.random.RandomState(seed)
    bn_modules = {_split(e['name'])[0] for e in entries if _split(e['name'])[1] == 'running_mean'}
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for e in entries:
        name, shape, dtype = e['name'], tuple(e['shape']), _DTYPES[e['dtype']]
        prefix, leaf = _split(name)
        n = int(np.prod(shape)) if shape else 1
        if leaf == 'num_batches_tracked':
            out[name] = torch.zeros(shape, dtype=dtype)
            continue
        if prefix in bn_modules:
            draw = {'weight': lambda: rs.uniform(0.5, 1.5, n), 'bias': lambda: rs.normal(0.0, 0.1, n),
                    'running_mean': lambda: rs.normal(0.0, 0.1, n),
                    'running_var': lambda: rs.uniform(0.5, 1.5, n)}.get(leaf, lambda: rs.normal(0.0, 0.1, n))
            v = draw()
        elif len(shape) >= 2:
            std = _gain(name, prefix, bn_modules) * math.sqrt(2.0 / int(np.prod(shape[1:])))
            v = rs.normal(0.0, std, n)
        elif leaf == 'bias':
            v = rs.normal(0.0, 0.01, n)
        elif leaf == 'scale' and len(shape) == 1:
            v = rs.uniform(*_SCALE_RANGE, n)
        else:
            v = rs.normal(0.0, 0.1, n)
        out[name] = torch.from_numpy(np.asarray(v, dtype=np.float64).reshape(shape)).to(dtype)
    return out
