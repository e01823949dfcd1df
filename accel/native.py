"""Native CPU kernels: small plain-C files in accel/csrc, built on first use with the system C compiler.

Built once per source, compiler and CPU into a cache folder ($MIVOS_KERNEL_CACHE, default ~/.cache/mivos) and
called through ctypes on tensors' memory (no PyTorch headers, so a build is quick). Everything that
uses them has a pure-PyTorch fallback: with no compiler, a failed build or MIVOS_NATIVE=0, load() returns None.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCES = Path(__file__).parent / 'csrc'
FLAGS = ('-O3', '-march=native', '-std=c99', '-shared', '-fPIC')
_long, _int, _ptr = ctypes.c_long, ctypes.c_int, ctypes.c_void_p
SIGNATURES = {  # argument types of the exported functions (all return void)
    'winograd_f43_input': [_ptr, _ptr, _long, _long, _long, _long, _int, _long, _long],
    'winograd_f43_output': [_ptr, _ptr, _ptr, _ptr, _long, _long, _long, _long, _long, _int, _long, _long],
}


def cache_dir() -> Path:
    """Where built kernels (and the default conv timings) are kept: $MIVOS_KERNEL_CACHE, else
    $XDG_CACHE_HOME/mivos or ~/.cache/mivos."""
    if os.environ.get('MIVOS_KERNEL_CACHE'):
        return Path(os.environ['MIVOS_KERNEL_CACHE'])
    return Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'mivos'


def cpu_id() -> str:
    """The CPU the code is built for (-march=native): model and feature flags where the OS tells them."""
    try:
        lines = Path('/proc/cpuinfo').read_text().splitlines()
        return '|'.join(sorted({line for line in lines if line.startswith(('model name', 'flags'))}))
    except OSError:
        return platform.processor() or platform.machine()


def _build(source: Path, compiler: str) -> Path:
    """Compile source into a shared library in cache_dir() (atomically: concurrent builders do not clash)."""
    version = subprocess.run([compiler, '--version'], capture_output=True, text=True).stdout
    digest = hashlib.sha256('\0'.join([source.read_text(), compiler, version, *FLAGS, cpu_id()]).encode())
    target = cache_dir() / f'{source.stem}-{digest.hexdigest()[:16]}.so'
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.so', dir=target.parent)
    os.close(fd)
    try:
        result = subprocess.run([compiler, *FLAGS, str(source), '-o', tmp], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f'{compiler} failed on {source.name}:\n{result.stderr.strip()}')
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


@functools.cache
def load(name: str = 'winograd_f43') -> ctypes.CDLL | None:
    """The built kernels of csrc/<name>.c, or None (logged once) when they cannot be built or are switched off."""
    if os.environ.get('MIVOS_NATIVE', '1') == '0':
        return None
    compiler = shutil.which(os.environ.get('CC', 'cc'))
    if compiler is None:
        log.warning('no C compiler (%s) found: native kernels are off, the PyTorch versions run instead '
                    '(install gcc or clang, or set CC, for the faster path)', os.environ.get('CC', 'cc'))
        return None
    try:
        lib = ctypes.CDLL(str(_build(SOURCES / f'{name}.c', compiler)))
    except (OSError, RuntimeError) as error:
        log.warning('native kernels %s could not be built, the PyTorch versions run instead: %s', name, error)
        return None
    for function, argtypes in SIGNATURES.items():
        if hasattr(lib, function):
            getattr(lib, function).argtypes, getattr(lib, function).restype = argtypes, None
    return lib


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix='mivos-native')


def parallel_tiles(function, tiles: int, *args) -> None:
    """function(*args, t0, t1) over [0, tiles), split across torch's intra-op thread count (ctypes calls
    release the GIL, so the chunks run in parallel)."""
    threads = min(torch.get_num_threads(), max(1, tiles // 16))
    if threads == 1:
        function(*args, 0, tiles)
        return
    bounds = [tiles * i // threads for i in range(threads + 1)]
    futures = [_pool(threads).submit(function, *args, a, b) for a, b in zip(bounds, bounds[1:])]
    for future in futures:
        future.result()
