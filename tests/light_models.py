"""Tiny random-weight networks saved as self-describing checkpoints, RITM click-model files laid out as released,
and a tiny generated DAVIS-format root, for end-to-end tests of the evaluation scripts."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from dataset.synthetic import SyntheticConfig, generate
from inference.interaction.civos import CiVOSInteraction
from model.ritm import HRNetISModel
from util.weights import LIGHT_KWARGS, RITM_CLASS, network_class
from weightgen import MANIFESTS, make_state_dict, manifest_entries


def save_light_checkpoints(folder: Path, seed: int = 0) -> dict[str, Path]:
    """folder/{propagation,fusion,s2m}.pth as training checkpoints carrying their model_kwargs."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    paths = {}
    for kind, kwargs in LIGHT_KWARGS.items():
        paths[kind] = folder / f'{kind}.pth'
        torch.save({'network': network_class(kind)(**kwargs).state_dict(), 'model_kwargs': kwargs}, paths[kind])
    return paths


def constructor(variant: str) -> dict:
    """The constructor arguments of a RITM variant ('ritm_h18s', 'ritm_h18', 'ritm_h32') from its manifest."""
    return json.loads((MANIFESTS / f'{variant}.json').read_text())['constructor']


def ritm_file(variant: str, state_dict: dict) -> dict:
    """A file laid out as RITM saves it: every HRNetModel parameter plus the specified ISModel keyword arguments."""
    params = {'width': 48, 'ocr_width': 256, 'small': False, 'backbone_lr_mult': 0.1,
              'norm_layer': 'torch.nn.modules.batchnorm.BatchNorm2d'}
    params.update(constructor(variant))
    config = {'class': RITM_CLASS,
              'params': {k: {'type': 'class' if k == 'norm_layer' else 'builtin', 'value': v,
                             'specified': k in constructor(variant)} for k, v in params.items()}}
    return {'config': config, 'state_dict': state_dict}


def save_ritm_checkpoint(path: Path, seed: int = 0) -> Path:
    """An official-format RITM file of the HRNet-18s click model (CiVOS's) with random weights; returns path."""
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ritm_file('ritm_h18s', HRNetISModel(**constructor('ritm_h18s')).state_dict()), path)
    return path


def ritm_clicks(seed: int = 0) -> CiVOSInteraction:
    """NoBRS RITM clicks through the HRNet-18s click model with tests/weightgen.py's random weights, whose click-map
    scale makes every click change the answer (seed 0's positive clicks also take the pixels around them)."""
    net = HRNetISModel(**constructor('ritm_h18s')).eval()
    net.load_state_dict(make_state_dict(manifest_entries('ritm_h18s'), seed))
    return CiVOSInteraction.with_network(net, 'NoBRS')


def tiny_davis(out: Path, scribbles: int = 1, frames: int = 5) -> Path:
    """A generated DAVIS-2017 root with 2 val sequences of `frames` 64x96 frames; returns the root."""
    cfg = SyntheticConfig(height=64, width=96, static_images=0, vos_videos=0, davis_train=0, davis_val=2,
                          davis_frames=frames, davis_scribbles=scribbles, max_objects=2)
    return generate(out, cfg)['davis']
