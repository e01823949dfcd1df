"""Propagations from one reference frame, the raw material of fusion training (docs/mivos.md).

The ground-truth masks of a reference frame are soft-aggregated, memorised and propagated both ways with the
test-time memory policy of InferenceCore (permanent every mem_freq frames + the previous frame, top-k reads,
no fusion); every object's probability is returned as uint8 = floor(255 p).
"""
from __future__ import annotations

import numpy as np
import torch

from inference.backend import Backend
from inference.core import InferenceCore
from model.aggregate import aggregate_wbg
from util.tensor_util import unpad

MIN_OBJECT_PIXELS = 100  # objects smaller than this at the reference frame are not propagated
MAX_OBJECTS = 5


def reference_objects(labels: np.ndarray, min_pixels: int = MIN_OBJECT_PIXELS,
                      max_objects: int = MAX_OBJECTS) -> list[int]:
    """Ids (ascending) of the objects with more than min_pixels pixels in a label map, at most max_objects."""
    ids, counts = np.unique(labels, return_counts=True)
    return [int(i) for i, c in zip(ids, counts) if i != 0 and c > min_pixels][:max_objects]


@torch.no_grad()
def propagate_reference(prop_net: torch.nn.Module, frames: np.ndarray, ref_labels: np.ndarray, ref: int,
                        objects: list[int], mem_freq: int = 5, device: str | torch.device = 'cpu',
                        backend: Backend | None = None) -> np.ndarray:
    """frames uint8 [T,H,W,3], ref_labels uint8 [H,W] of frame `ref` -> uint8 [K,T,H,W] probabilities.

    Channel i is object objects[i] (its channel of the K+1 aggregation); frame ref holds the aggregated GT.
    """
    k = len(objects)
    one_hot = torch.stack([torch.from_numpy(ref_labels == o) for o in objects]).float().unsqueeze(1)  # [K,1,H,W]
    mask = aggregate_wbg(one_hot, keep_bg=True)  # [K+1, 1, H, W]
    core = InferenceCore(prop_net, None, frames, k, mem_freq=mem_freq, device=device, fusion='none', backend=backend)
    core.interact(mask, ref)
    prob = unpad(core.prob[1:, :, 0], core.pad)  # [K, T, H, W]
    return (prob.clamp(0, 1) * 255).floor().to(torch.uint8).cpu().numpy()
