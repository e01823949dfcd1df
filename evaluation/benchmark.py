"""Timing and memory of InferenceCore on a synthetic clip: first pass, fusion pass, a 3-interaction session, S2M.

Used by scripts/benchmark.py; accelerated ('optimized') and reference backend runs are interleaved in one process
so that both see the same machine load.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from accel import AcceleratedBackend
from accel.onednn import onednn_available
from accel.optimize import InferenceNetwork
from dataset.synthetic import SyntheticConfig, davis_name, generate
from inference.backend import Backend, ReferenceBackend
from inference.core import ORIGINAL_FEATURE_CACHE_FRAMES, InferenceCore
from util.image_io import ImageFolder
from inference.prob_store import ProbStorage
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from util.memory import PeakMemory, max_rss_mb
from util.tensor_util import one_hot
from util.weights import LIGHT_KWARGS, network_class

log = logging.getLogger(__name__)


@dataclasses.dataclass
class PhaseResult:
    """One timed phase: wall time, frames propagated, counted dense FLOPs and memory."""
    mode: str
    phase: str
    k: int
    frames: int
    seconds: float
    cpu_seconds: float
    gflop: float
    peak_mb: float
    growth_mb_per_frame: float
    ms_per_frame: float = dataclasses.field(init=False)
    ms_per_frame_per_object: float = dataclasses.field(init=False)
    gflops: float = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.ms_per_frame = 1000 * self.seconds / max(self.frames, 1)
        self.ms_per_frame_per_object = self.ms_per_frame / self.k
        self.gflops = self.gflop / self.seconds if self.seconds > 0 else 0.0


def synthetic_frame(ti: int, h: int, w: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frame ti of the synthetic clip: uint8 RGB [H,W,3] (textured background, K moving rectangles), labels [H,W]."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), (xx + yy) % 256], -1)
    noise = np.random.default_rng(seed).integers(0, 40, (h, w, 3))
    frame = ((base + noise + 3 * ti) % 256).astype(np.uint8)
    labels = np.zeros((h, w), np.uint8)
    for obj in range(1, k + 1):
        y0 = (h // (k + 2)) * obj
        x0 = (ti * 2 + obj * w // (k + 2)) % max(w - w // 5, 1)
        box = (slice(y0, y0 + h // 5), slice(x0, x0 + w // 5))
        labels[box] = obj
        frame[box] = (40 * obj, 200, 255 - 60 * obj)
    return frame, labels


def synthetic_clip(t: int, h: int, w: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB frames [T,H,W,3] and label maps [T,H,W] of the synthetic clip (see synthetic_frame)."""
    pairs = [synthetic_frame(ti, h, w, k, seed) for ti in range(t)]
    return np.stack([f for f, _ in pairs]), np.stack([lab for _, lab in pairs])


def write_synthetic_folder(folder: Path, t: int, h: int, w: int, k: int) -> None:
    """The synthetic clip as lossless PNG frames 00000.png... in folder, written one frame at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    for ti in range(t):
        Image.fromarray(synthetic_frame(ti, h, w, k)[0]).save(folder / f'{ti:05d}.png', compress_level=1)


def core_options(mode: str, backend: Backend | None = None, cache_bytes: int | None = None,
                 prob_storage: ProbStorage | None = None) -> dict:
    """InferenceCore options of a mode: 'optimized' = the accelerated backend (given, or a new one) with the
    default memory limits unless given; 'reference' = the original: its computation, its 105-frame feature cache
    and float32 probabilities."""
    if mode == 'optimized':
        return dict(backend=backend or AcceleratedBackend(), prob_storage=prob_storage,
                    **({} if cache_bytes is None else {'feature_cache_bytes': cache_bytes}))
    return dict(backend=ReferenceBackend(), feature_cache_size=ORIGINAL_FEATURE_CACHE_FRAMES,
                feature_cache_bytes=cache_bytes, prob_storage=prob_storage or 'float32')


@torch.no_grad()
def memory_probe(folder: Path, k: int, device: torch.device, mode: str = 'optimized',
                 prob_storage: ProbStorage | None = None, cache_bytes: int | None = None) -> dict:
    """Peak memory of a first pass and a fusion pass over frames streamed from folder (run in a fresh process).

    The high-water mark is taken after building the networks (baseline) and after each pass, so that the
    growth with T shows apart from the fixed cost of the networks and the libraries.
    """
    nets = build_networks(device)
    source = ImageFolder(folder)
    t, h, w = source.shape[:3]
    core = InferenceCore(*nets, source, k, device=device, **core_options(mode, None, cache_bytes, prob_storage))
    out = {'t': t, 'size': f'{h}x{w}', 'k': k, 'mode': mode,
           'prob_storage': core.prob_store.storage, 'baseline_peak_mb': max_rss_mb()}
    start = time.perf_counter()
    core.interact(one_hot(synthetic_frame(0, h, w, k)[1], k), 0)
    out['first_pass_peak_mb'] = max_rss_mb()
    shifted = np.roll(synthetic_frame(t - 1, h, w, k)[1], 3, axis=1)
    core.interact(one_hot(shifted, k), t - 1)
    out.update(peak_mb=max_rss_mb(), seconds=time.perf_counter() - start, prob_mb=core.prob_store.nbytes / 2**20,
               masks_mb=core.padded_labels.nbytes / 2**20, feature_cache_mb=core.query_cache.nbytes / 2**20,
               cached_frames=len(core.query_cache))
    return out


REPO = Path(__file__).resolve().parents[1]


def peak_rss_of(cmd: list[str], threads: int) -> tuple[float, float]:
    """(peak RSS MiB, seconds) of one command run to completion in a child process (its own high-water mark)."""
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads)}
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f'{" ".join(cmd)} failed ({child.returncode}): {stderr.strip().splitlines()[-1:]}')
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def user_path_memory(folder: Path, t: int, h: int, w: int, k: int, threads: int = 1) -> list[dict]:
    """Peak RSS of scripts/segment_video.py (first-frame mask) and eval_semi_davis.py on one generated DAVIS-format
    clip of t frames (h x w, k objects) with a light random propagation network, each in a fresh process."""
    cfg = SyntheticConfig(height=h, width=w, static_images=0, vos_videos=0, davis_train=0, davis_val=1,
                          davis_frames=t, min_objects=k, max_objects=k)
    root = generate(folder / 'data', cfg)['davis']
    name = davis_name(0, 'val')
    torch.manual_seed(0)
    model = folder / 'propagation.pth'
    torch.save({'network': network_class('propagation')(**LIGHT_KWARGS['propagation']).state_dict(),
                'model_kwargs': LIGHT_KWARGS['propagation']}, model)
    commands = {
        'segment_video': [sys.executable, 'scripts/segment_video.py', '--video', str(root / 'JPEGImages/480p' / name),
                          '--mask', str(root / 'Annotations/480p' / name / '00000.png'), '--prop-model', str(model),
                          '--output', str(folder / 'segment'), '--device', 'cpu'],
        'eval_semi_davis': [sys.executable, 'eval_semi_davis.py', '--prop-model', str(model), '--davis', str(root),
                            '--output', str(folder / 'semi'), '--device', 'cpu'],
    }
    rows = []
    for script, cmd in commands.items():
        peak, seconds = peak_rss_of(cmd, threads)
        rows.append({'script': script, 'size': f'{h}x{w}', 'k': k, 't': t, 'peak_mb': peak, 'seconds': seconds})
    return rows


def build_networks(device: torch.device, seed: int = 0) -> tuple[PropagationNetwork, FusionNet]:
    """Faithful (ResNet-50) propagation and fusion networks with random weights, eval mode."""
    torch.manual_seed(seed)
    prop, fusion = PropagationNetwork().eval().to(device), FusionNet().eval().to(device)
    for m in prop.modules():  # non-trivial BN statistics so that BN folding is really exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return prop, fusion


def _packed_conv_flop(x_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of oneDNN's fused convolution (accel.onednn), which FlopCounterMode does not know: its weight is
    the 2nd argument, or the 3rd in the residual (binary) form."""
    w_shape = args[1] if args[1] is not None and len(args[1]) == 4 else args[0]
    return conv_flop_count(list(x_shape), list(w_shape), list(out_shape), transposed=False)


FLOP_FORMULAS = {torch.ops.mkldnn._convolution_pointwise: _packed_conv_flop} if onednn_available(
    torch.device('cpu')) else {}


def _timed(mode: str, phase: str, k: int, frames: int, device: torch.device, fn, count_flops: bool = False
           ) -> PhaseResult:
    """Run fn once: wall and CPU time, peak memory, and (count_flops) its dense FLOPs. Counting intercepts every
    op in Python, which slows it down: counted runs are for FLOPs only, never for timing."""
    mem = PeakMemory(device)
    counter = FlopCounterMode(display=False, custom_mapping=FLOP_FORMULAS) if count_flops else contextlib.nullcontext()
    with mem.track(), counter as flops:
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    growth = (mem.current() - mem.start) / max(frames, 1)
    gflop = flops.get_total_flops() / 1e9 if count_flops else 0.0
    return PhaseResult(mode, phase, k, frames, seconds, cpu_seconds, gflop, mem.peak / 2**20, growth / 2**20)


def with_flops(timed: list[PhaseResult], counted: list[PhaseResult]) -> list[PhaseResult]:
    """The timed results with the FLOPs of the counted run of the same mode, phase and K (GFLOP/s from them)."""
    gflop = {(r.mode, r.phase, r.k): r.gflop for r in counted}
    return [dataclasses.replace(r, gflop=gflop.get((r.mode, r.phase, r.k), r.gflop)) for r in timed]


def session_frames(t: int) -> list[int]:
    """Interacted frames of the 3-interaction session: the middle first, then two frames between it and the ends."""
    return [t // 2, t // 5, min(t - 1, (4 * t) // 5)]


@torch.no_grad()
def run_mode(mode: str, nets: tuple, frames: np.ndarray, labels: np.ndarray, k: int, device: torch.device,
             cache_bytes: int | None = None, phases: tuple[str, ...] = ('first', 'fusion', 'session'),
             backend: Backend | None = None, count_flops: bool = False) -> list[PhaseResult]:
    """Run the phases for one mode ('optimized' or 'reference', see core_options) on a fresh InferenceCore
    each (count_flops: an untimed run that counts FLOPs, see _timed)."""
    t = len(frames)
    opts = dict(device=device, **core_options(mode, backend, cache_bytes))
    results = []
    if 'first' in phases or 'fusion' in phases:
        core = InferenceCore(*nets, frames, k, **opts)
        results.append(_timed(mode, 'first', k, t - 1, device, lambda: core.interact(one_hot(labels[0], k), 0),
                              count_flops))
        if 'fusion' in phases and t > 2:
            shifted = np.roll(labels[t - 1], 3, axis=1)  # a corrected mask on the last frame
            results.append(_timed(mode, 'fusion', k, t - 2, device,
                                  lambda: core.interact(one_hot(shifted, k), t - 1), count_flops))
        del core
    if 'session' in phases:
        core = InferenceCore(*nets, frames, k, **opts)
        idx = session_frames(t)
        n = (t - 1) + (idx[0] - idx[1] - 1) + (idx[1]) + (idx[2] - idx[0] - 1) + (t - 1 - idx[2])

        def session() -> None:
            for i in idx:
                core.interact(one_hot(labels[i], k), i)
        results.append(_timed(mode, 'session', k, n, device, session, count_flops))
    return results


def prepare_optimized(backend: AcceleratedBackend, prop: PropagationNetwork, h: int, w: int
                      ) -> tuple[InferenceNetwork, float]:
    """(the transformed network, seconds its preparation took: conv timings unless stored, weight transforms)
    for frames of h x w; the backend keeps it, so this is the cost the first InferenceCore of a video size pays."""
    start = time.perf_counter()
    fast = backend.network(prop, (-(-h // 16) * 16, -(-w // 16) * 16))
    return fast, time.perf_counter() - start


@torch.no_grad()
def run_s2m(frames: np.ndarray, k: int, device: torch.device, repeats: int = 3) -> PhaseResult | None:
    """S2M on one interaction (K objects batched, padded size); None if model.s2m is not available yet."""
    try:
        s2m_cls = importlib.import_module('model.s2m').S2M
    except (ImportError, AttributeError) as e:
        log.debug('S2M skipped: `from model.s2m import S2M` failed (%s)', e)
        return None
    net = s2m_cls().eval().to(device)
    h, w = frames.shape[1:3]
    hp, wp = -(-h // 16) * 16, -(-w // 16) * 16
    x = torch.randn(k, 6, hp, wp, device=device)
    net(x)  # warm-up
    counted = _timed('optimized', 's2m', k, 1, device, lambda: net(x), count_flops=True)
    timed = _timed('optimized', 's2m', k, repeats, device, lambda: [net(x) for _ in range(repeats)])
    return dataclasses.replace(timed, gflop=counted.gflop * repeats)


def summary_rows(results: list[PhaseResult]) -> list[dict]:
    """Results as dicts, plus the speed-up of each optimised phase over the median reference of the same phase and
    K, by wall time and by process CPU time (the latter is less disturbed by other processes on a shared machine)."""
    rows = [dataclasses.asdict(r) for r in results]
    ref: dict[tuple, list[tuple[float, float]]] = {}
    for r in results:
        if r.mode == 'reference':
            ref.setdefault((r.phase, r.k), []).append((r.seconds, r.cpu_seconds))
    for row in rows:
        base = ref.get((row['phase'], row['k']))
        if row['mode'] == 'optimized' and base:
            wall, cpu = np.median(np.array(base), axis=0)
            row['speedup_vs_reference'] = float(wall) / row['seconds']
            row['cpu_speedup_vs_reference'] = float(cpu) / row['cpu_seconds']
    return rows
