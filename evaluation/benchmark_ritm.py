"""Per-click cost of the RITM click predictor (CiVOS's interaction): NoBRS and f-BRS-B on a synthetic frame.

Used by `scripts/benchmark.py --ritm`. Forward hooks count the backbone passes (HRNet stem) and head passes (OCR
classifier) of each click, so the table also shows that f-BRS's L-BFGS re-runs only the head.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from evaluation.benchmark import synthetic_frame
from inference.interaction.ritm import RITMPredictor
from model.ritm import HRNetISModel

H18S = {'width': 18, 'ocr_width': 48, 'small': True, 'with_aux_output': True, 'use_leaky_relu': True,
        'use_rgb_conv': False, 'use_disks': True, 'norm_radius': 5, 'with_prev_mask': True}
# How the original's per-click cost was published, printed under our (CPU) table.
PUBLISHED = ('the original per-click costs are GPU figures: f-BRS (Sofiiuk et al., CVPR 2020) reports SPC, '
             'seconds per click, of its BRS variants on a GPU, and CiVOS (Vujasinovic et al., ICIP 2022) runs '
             "RITM h18s + f-BRS-B on a GPU under DAVIS's budget of 30 s per object per interaction; "
             'the numbers above are CPU')


@dataclasses.dataclass
class ClickTiming:
    """One predictor mode at one size: wall and CPU time per click, and the network passes per click."""
    mode: str
    size: str
    clicks: int
    sessions: int
    first_click_ms: float
    later_click_ms: float
    ms_per_click: float
    cpu_ms_per_click: float
    backbone_passes_per_click: float
    head_passes_per_click: float


def benchmark_clicks(h: int, w: int) -> tuple[np.ndarray, list[tuple[bool, int, int]]]:
    """The synthetic frame with one object, and CiVOS-like clicks on it: a positive at its centre, a negative on
    the background, a second positive near its corner."""
    frame, labels = synthetic_frame(0, h, w, 1)
    ys, xs = np.nonzero(labels == 1)
    cy, cx = int(ys.mean()), int(xs.mean())
    return frame, [(True, cy, cx), (False, h - 1 - h // 8, w // 8), (True, int(ys.min()) + 2, int(xs.min()) + 2)]


def random_h18s(device: torch.device, seed: int = 0) -> HRNetISModel:
    """The h18s click model with PyTorch's default random initialisation (timing does not need trained weights)."""
    torch.manual_seed(seed)
    return HRNetISModel(**H18S).eval().to(device)


class PassCounter:
    """Counts a module's forward calls until removed."""

    def __init__(self, module: torch.nn.Module):
        self.calls = 0
        self._handle = module.register_forward_hook(self._count)

    def _count(self, *_) -> None:
        self.calls += 1

    def remove(self) -> None:
        self._handle.remove()


def time_clicks(net: HRNetISModel, mode: str, h: int, w: int, sessions: int = 1) -> ClickTiming:
    """Median over sessions of each click's time; every session starts from a fresh image."""
    frame, clicks = benchmark_clicks(h, w)
    backbone, head = PassCounter(net.feature_extractor.conv1), PassCounter(net.feature_extractor.cls_head)
    walls, cpus = [], []
    try:
        predictor = RITMPredictor(net, mode)
        for _ in range(sessions):
            predictor.set_input_image(frame)
            wall, cpu = [], []
            for k in range(1, len(clicks) + 1):
                start, cpu_start = time.perf_counter(), time.process_time()
                predictor.get_prediction(clicks[:k])
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - cpu_start)
            walls.append(wall)
            cpus.append(cpu)
    finally:
        backbone.remove()
        head.remove()
    wall_ms = 1000 * np.median(np.array(walls), axis=0)  # [clicks]
    n = sessions * len(clicks)
    return ClickTiming(mode, f'{h}x{w}', len(clicks), sessions, float(wall_ms[0]), float(wall_ms[1:].mean()),
                       float(wall_ms.mean()), float(1000 * np.median(np.array(cpus), axis=0).mean()),
                       backbone.calls / n, head.calls / n)
