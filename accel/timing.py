"""Which 3x3 convolutions run faster as Winograd F(4x4,3x3) on this machine: timed once per shape, kept by the
caller's ConvTimings, and stored in a JSON file (when it has a path) that later processes reuse.

A stored choice is keyed by the conv shape, the feature size, dtype, thread count and what Winograd replaces, under
the environment it was measured in (PyTorch version, CPU model and flags, native kernels on or off): a file can be
shared between machines, and a choice made elsewhere is never reused. By default (default_path) the file sits next
to the built native kernels, so the timing is paid once per machine.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from accel import native
from accel.onednn import PackedConv2d
from accel.winograd import transform_weight, winograd_conv3x3
from util.files import atomic_write_text

log = logging.getLogger(__name__)

FORMAT = 1


def _cpu_seconds(fn, repeats: int = 3) -> float:
    fn()  # warm-up (allocator, oneDNN primitive creation)
    best = float('inf')
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


@torch.no_grad()
def winograd_is_faster(conv: nn.Conv2d, height: int, width: int, margin: float = 1.1,
                       baseline: nn.Module | None = None) -> bool:
    """Time both algorithms on a [1, C_in, height, width] input (CPU only): True if Winograd wins by `margin`.

    baseline: the module Winograd would replace, e.g. a packed oneDNN conv with fused ReLU, timed against a
    Winograd conv with the ReLU fused too, on a channels-last input (the encoders' layout); default F.conv2d.
    """
    if conv.weight.device.type != 'cpu':
        return False  # cuDNN picks its own algorithms (Winograd included): use torch.backends.cudnn.benchmark
    x = torch.randn(1, conv.in_channels, height, width, dtype=conv.weight.dtype)
    u = transform_weight(conv.weight)
    if baseline is None:
        direct = _cpu_seconds(lambda: F.conv2d(x, conv.weight, conv.bias, padding=1))
        wino = _cpu_seconds(lambda: winograd_conv3x3(x, u, conv.bias))
    else:
        x = x.contiguous(memory_format=torch.channels_last)
        direct = _cpu_seconds(lambda: baseline(x))
        wino = _cpu_seconds(lambda: winograd_conv3x3(x, u, conv.bias, relu_output=True))
    return wino * margin < direct


def default_path() -> Path:
    """The per-user timings file: conv-timings.json in the native kernels' cache folder (accel.native.cache_dir)."""
    return native.cache_dir() / 'conv-timings.json'


def environment() -> str:
    """What a timing depends on besides the conv: PyTorch version, CPU (model and flags), native kernels."""
    cpu = hashlib.sha256(native.cpu_id().encode()).hexdigest()[:16]
    return f'torch {torch.__version__}, cpu {cpu}, native kernels {"on" if native.load() else "off"}'


class ConvTimings:
    """Winograd-or-direct choices per conv shape, timed on first need (in memory; also in the JSON file `path`).

    timed / seconds: how many shapes this object timed and how long that took (logged by the caller).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self._choices: dict[str, bool] | None = None  # of this environment, loaded on first use
        self.timed, self.seconds = 0, 0.0

    def winograd_wins(self, conv: nn.Conv2d, size: tuple[int, int], packed: bool = False) -> bool:
        """Winograd measured faster than the direct conv (packed: than a packed oneDNN conv + ReLU) at this size."""
        choices = self._load()
        key = (f'{conv.in_channels}->{conv.out_channels} at {size[0]}x{size[1]}, {str(conv.weight.dtype)[6:]}, '
               f'{torch.get_num_threads()} threads, vs {"packed oneDNN + ReLU" if packed else "direct"}')
        if key not in choices:
            start = time.perf_counter()
            baseline = PackedConv2d(conv, (1, conv.in_channels, *size), relu=True) if packed else None
            choices[key] = winograd_is_faster(conv, *size, baseline=baseline)
            self.timed += 1
            self.seconds += time.perf_counter() - start
            log.debug('conv %s: %s', key, 'Winograd' if choices[key] else 'direct')
        return choices[key]

    def _load(self) -> dict[str, bool]:
        if self._choices is None:
            self._choices = dict(self._stored().get(environment(), {}))
            if self._choices:
                log.info('%d conv timing choices read from %s', len(self._choices), self.path)
        return self._choices

    def _stored(self) -> dict[str, dict[str, bool]]:
        """Every environment's choices in the file ({} without a path, file or readable content)."""
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            if data.get('format') != FORMAT:
                raise ValueError(f'format {data.get("format")!r}, expected {FORMAT}')
            return data['environments']
        except (OSError, ValueError, KeyError, AttributeError) as error:
            log.warning('ignoring the conv timings in %s (%s): they are timed again and the file is rewritten',
                        self.path, error)
            return {}

    def save(self) -> None:
        """Write the choices to path (atomically, keeping other environments' entries); a failure only warns."""
        if self.path is None or self._choices is None:
            return
        environments = self._stored()
        environments[environment()] = dict(sorted(self._choices.items()))
        try:
            atomic_write_text(self.path, json.dumps({'format': FORMAT, 'environments': environments}, indent=1))
        except OSError as error:
            log.warning('could not store the conv timings in %s (%s): they are kept for this process only',
                        self.path, error)
