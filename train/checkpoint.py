"""Training checkpoints: atomic writes, provenance (config, git commit, versions) and RNG states.

Everything is stored as tensors, numbers, strings, lists and dicts so that torch.load(weights_only=True) reads it.
"""
from __future__ import annotations

import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

from util.files import atomic_write
from util.weights import CheckpointError, read_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TRAINING_KEYS = ('network', 'model_kwargs', 'config', 'it', 'optimizer', 'scheduler', 'rng', 'curriculum')


def git_commit() -> str:
    """HEAD commit of the source tree (with '-dirty' for uncommitted changes), or 'unknown'."""
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ('-dirty' if dirty else '')
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def library_versions() -> dict[str, str]:
    """Versions that decide numerical results."""
    import torchvision
    return {'python': platform.python_version(), 'torch': str(torch.__version__),
            'torchvision': str(torchvision.__version__), 'numpy': str(np.__version__),
            'cuda': str(torch.version.cuda), 'cudnn': str(torch.backends.cudnn.version())}


def rng_state() -> dict:
    """torch (CPU and every CUDA device), numpy and python random states in a weights_only-loadable form."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {'torch': torch.get_rng_state(),
            'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            'numpy': {'kind': kind, 'keys': torch.from_numpy(keys.astype(np.int64)), 'pos': int(pos),
                      'has_gauss': int(has_gauss), 'gauss': float(gauss)},
            'python': {'version': version, 'internal': list(internal), 'gauss_next': gauss_next}}


def set_rng_state(state: dict) -> None:
    """Restore the states written by rng_state()."""
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    n = state['numpy']
    np.random.set_state((n['kind'], n['keys'].numpy().astype(np.uint32), n['pos'], n['has_gauss'], n['gauss']))
    p = state['python']
    random.setstate((p['version'], tuple(p['internal']), p['gauss_next']))


def save_atomic(obj: dict, path: str | Path) -> Path:
    """torch.save through util.files.atomic_write: a crash or a full disk never leaves a half-written file (the
    previous checkpoint stays, the temporary file is removed, a full disk says "no space left on <folder>")."""
    return atomic_write(path, lambda f: torch.save(obj, f), durable=True)


def read_training_checkpoint(path: str | Path, trainer: str, model_kwargs: dict) -> dict:
    """Read a full checkpoint for --resume and check that it belongs to this trainer and model."""
    ckpt = read_checkpoint(path)
    missing = [k for k in TRAINING_KEYS if k not in ckpt] if isinstance(ckpt, dict) else list(TRAINING_KEYS)
    if missing:
        raise CheckpointError(f'{path} is not a full training checkpoint (missing {missing}); --resume needs a '
                              '*_checkpoint.pth file. To start from weights only use --load-network.')
    their_trainer = ckpt['config'].get('trainer')
    if their_trainer != trainer:
        raise CheckpointError(f'{path} was written by the {their_trainer!r} trainer, not {trainer!r}')
    if ckpt['model_kwargs'] != model_kwargs:
        raise CheckpointError(f'{path} holds a model built with {ckpt["model_kwargs"]}, but the config asks for '
                              f'{model_kwargs}; resume with the same model settings')
    return ckpt
