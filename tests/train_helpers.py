"""Argument lists for tiny trainer runs on the generated sets of tests/train_data.py."""
from __future__ import annotations

from pathlib import Path

import torch

from model.propagation import PropagationNetwork
from util.config import CONFIG_DIR

TINY_PROP = ['--set', 'model.key_dim=16', '--set', 'model.value_dim=32', '--set', 'model.decoder_dims=[32,16,16]']
TINY_PROP_KWARGS = {'arch': 'resnet18', 'key_dim': 16, 'value_dim': 32, 'decoder_dims': [32, 16, 16]}


def tiny_args(config: str, factory: str, save_dir: Path, iterations: int, batch: int = 2, crop: int = 32,
              extra: tuple[str, ...] = ()) -> list[str]:
    """A CPU recipe shrunk to a few iterations on a generated set, saving under save_dir."""
    args = ['--config', str(CONFIG_DIR / config), '-i', str(iterations), '-b', str(batch),
            '--save_dir', str(save_dir), '--device', 'cpu', '--num_workers', '0',
            '--set', f'data.factory=tests.train_data:{factory}', '--set', f'data.crop={crop}',
            '--set', 'log.report_interval=1', '--set', 'log.image_interval=2', '--set', 'log.save_interval=1000']
    if config.startswith('prop'):
        args += TINY_PROP
    return args + list(extra)


def save_tiny_propagation(path: Path) -> Path:
    """A light propagation checkpoint in our format (what the fusion trainer reads)."""
    torch.manual_seed(0)
    net = PropagationNetwork(**TINY_PROP_KWARGS)
    torch.save({'network': net.state_dict(), 'model_kwargs': TINY_PROP_KWARGS}, path)
    return path


def run_dir(save_dir: Path) -> Path:
    """The single run folder a trainer created under save_dir."""
    (folder,) = [p for p in save_dir.iterdir() if p.is_dir()]
    return folder
