"""Initialise S2M from a VainF DeepLabV3+ ResNet-50 checkpoint, as S2M training's `--load-deeplab` does (docs/mivos.md).

The 3-channel conv1 [64,3,7,7] gains an orthogonally initialised [64,3,7,7] block for the mask/scribble
channels -> [64,6,7,7]; the final classifier conv (any class count) is replaced by a 1-output conv
(orthogonal weight, zero bias).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

LOG = logging.getLogger(__name__)

CONV1 = 'backbone.conv1.weight'
FINAL_WEIGHT = 'classifier.classifier.3.weight'
FINAL_BIAS = 'classifier.classifier.3.bias'
# VainF checkpoints store best_score as a numpy float64: allow exactly the globals that needs (new and old numpy paths).
_NUMPY_SCALAR_GLOBALS = [np.dtype, np.dtypes.Float64DType, np._core.multiarray.scalar,
                         (np._core.multiarray.scalar, 'numpy.core.multiarray.scalar')]


def s2m_state_from_deeplab(deeplab_state: Mapping[str, torch.Tensor],
                           generator: torch.Generator | None = None) -> 'OrderedDict[str, torch.Tensor]':
    """Map a 3-channel, C-class DeepLabV3+ state dict to the 6-channel, 1-output S2M layout."""
    missing = [k for k in (CONV1, FINAL_WEIGHT, FINAL_BIAS) if k not in deeplab_state]
    if missing:
        raise ValueError(f'not a DeepLabV3+ ResNet state dict: missing {missing}')
    conv1 = deeplab_state[CONV1]
    if conv1.shape[1] != 3:
        raise ValueError(f'{CONV1} should take 3 input channels, has shape {tuple(conv1.shape)}')
    state = OrderedDict(deeplab_state)
    extra = torch.empty_like(conv1)
    nn.init.orthogonal_(extra, generator=generator)
    state[CONV1] = torch.cat([conv1, extra], dim=1)  # [64, 6, 7, 7]
    final = deeplab_state[FINAL_WEIGHT]
    weight = final.new_empty((1, *final.shape[1:]))  # [1, 256, 1, 1]
    nn.init.orthogonal_(weight, generator=generator)
    state[FINAL_WEIGHT] = weight
    state[FINAL_BIAS] = final.new_zeros(1)
    return state


def load_deeplab_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the `model_state` state dict of a VainF training checkpoint (tensors only, numpy scalars allowed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'DeepLabV3+ checkpoint not found: {path}')
    with torch.serialization.safe_globals(_NUMPY_SCALAR_GLOBALS):
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(checkpoint, dict) or 'model_state' not in checkpoint:
        keys = list(checkpoint)[:5] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f'{path}: expected a VainF checkpoint dict with key "model_state", found {keys}')
    return checkpoint['model_state']


def init_s2m_from_deeplab(net: nn.Module, path: str | Path, generator: torch.Generator | None = None) -> nn.Module:
    """Load a VainF DeepLabV3+ ResNet-50 checkpoint into a (faithful) S2M network, strictly; returns `net`."""
    state = s2m_state_from_deeplab(load_deeplab_checkpoint(path), generator)
    net.load_state_dict(state, strict=True)
    LOG.info('initialised S2M from DeepLabV3+ checkpoint %s', path)
    return net
