"""Tiny random-weight networks saved as self-describing checkpoints, and a tiny generated DAVIS-format root,
for end-to-end tests of the evaluation scripts."""
from __future__ import annotations

from pathlib import Path

import torch

from dataset.synthetic import SyntheticConfig, generate
from util.weights import LIGHT_KWARGS, network_class


def save_light_checkpoints(folder: Path, seed: int = 0) -> dict[str, Path]:
    """folder/{propagation,fusion,s2m}.pth as training checkpoints carrying their model_kwargs."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    paths = {}
    for kind, kwargs in LIGHT_KWARGS.items():
        paths[kind] = folder / f'{kind}.pth'
        torch.save({'network': network_class(kind)(**kwargs).state_dict(), 'model_kwargs': kwargs}, paths[kind])
    return paths


def tiny_davis(out: Path, scribbles: int = 1, frames: int = 5) -> Path:
    """A generated DAVIS-2017 root with 2 val sequences of `frames` 64x96 frames; returns the root."""
    cfg = SyntheticConfig(height=64, width=96, static_images=0, vos_videos=0, davis_train=0, davis_val=2,
                          davis_frames=frames, davis_scribbles=scribbles, max_objects=2)
    return generate(out, cfg)['davis']
