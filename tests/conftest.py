"""Shared fixtures: golden vectors of the original code and manifest-shaped synthetic weights."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from weightgen import make_state_dict, manifest_entries  # noqa: E402

GOLDEN = Path(__file__).parent / 'data' / 'golden' / 'seed1'


@functools.lru_cache(maxsize=None)
def _golden(name: str) -> dict:
    return torch.load(GOLDEN / f'{name}.pt', map_location='cpu', weights_only=False)


@functools.lru_cache(maxsize=None)
def _weights(network: str, seed: int) -> dict:
    return make_state_dict(manifest_entries(network), seed)


@pytest.fixture(scope="session")
def golden():
    """golden('propagation') -> the stored dict of inputs/outputs computed by the original code."""
    return _golden


@pytest.fixture(scope="session")
def seed1_weights():
    """seed1_weights('propagation'|'fusion'|'s2m') -> the golden vectors' synthetic state dict."""
    return lambda network: _weights(network, 1)



@pytest.fixture(scope='module')
def one_torch_thread():
    """torch on one thread for a module (the RITM golden vectors were computed so), restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
