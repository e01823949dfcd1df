"""DAVIS interactive evaluation with the real davisinteractive session: scribbles (MiVOS) or simulated clicks (CiVOS).

Per sample (sequence, initial scribble file) a new DAVISProcessor (facts §d2). Scribbles go through S2M as in
MiVOS; clicks are simulated from the robot's answer (f1/f2) or from the ground truth (f3) and resolved by the same
S2M network. Either way the mask is applied under the propagation policy (3-frame by default).

Resume: finished samples are stored one file each (evaluation.sample_store). A run starts one session over the
sequences that still have unfinished samples (a partly finished sequence is run again from its first sample: the
session cannot start in the middle of a sequence; results already stored are kept). The global numbers are then
computed from the merged report of all requested samples by an EvaluationService over all requested sequences,
which gives what a single uninterrupted session would report.

An empty robot answer (the chosen frame has no correctable error) is taken as the user confirming the last
annotated frame as it is: its current labels are applied as the interaction, so the policy's schedule keeps
counting rounds and a pending refinement still gets propagated (the original crashes on empty answers).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from evaluation.click_robot import ClickStrategy, simulate_clicks
from evaluation.interactive_summary import package_summary, per_sequence_rounds, plot_curves, round_table, \
    table_summary, timing_summary
from evaluation.sample_store import RoundRecord, Sample, SampleStore
from inference.core import FusionMode, InferenceCore
from inference.davis import DAVISProcessor, Policy
from inference.interaction import ClickInteraction
from inference.interaction.base import one_hot
from util.davis_compat import list_subset, patch_davisinteractive, registered_sequences
from util.files import atomic_write_text
from util.palette import read_labels, write_labels
from util.video import read_video

log = logging.getLogger(__name__)

Interaction = Literal['scribbles', 'clicks']
METRIC = 'J_AND_F'


@dataclass
class Networks:
    """The three networks of MiVOS (fusion None when --fusion is not diff-aware)."""
    prop: torch.nn.Module
    fusion: torch.nn.Module | None
    s2m: torch.nn.Module


@dataclass
class InteractiveSettings:
    """Everything that changes the results of a run (stored with it; a resumed run must match)."""
    davis: str
    subset: str = 'val'
    interaction: Interaction = 'scribbles'
    click_strategy: ClickStrategy = 'f2'
    max_clicks: int = 1
    policy: Policy = 'three-frame'
    max_interactions: int = 8
    max_time: float | None = 240
    fusion: FusionMode = 'diff-aware'
    mem_freq: int = 5
    models: dict[str, str] = field(default_factory=dict)  # network -> 'sha256:<hex>' of its weights file
    model_files: dict[str, str] = field(default_factory=dict)  # network -> path (provenance; not compared)

    def __post_init__(self) -> None:
        if self.interaction not in ('scribbles', 'clicks'):
            raise ValueError(f"interaction must be 'scribbles' or 'clicks', got {self.interaction!r}")
        if not 1 <= self.max_interactions <= 16:
            raise ValueError(f'max_interactions must be in 1..16 (davisinteractive caps it), got '
                             f'{self.max_interactions}')
        if self.max_time is not None and not 0 < self.max_time <= 600:
            raise ValueError(f'max_time must be in (0, 600] seconds per object (davisinteractive caps it), got '
                             f'{self.max_time}')
        if self.max_clicks < 1:
            raise ValueError(f'max_clicks must be >= 1, got {self.max_clicks}')
        if self.mem_freq < 1:
            raise ValueError(f'mem_freq must be >= 1, got {self.mem_freq}')

    def stored(self) -> dict[str, Any]:
        """The settings as saved in settings.json (click options only matter for clicks)."""
        d = {k: getattr(self, k) for k in ('davis', 'subset', 'interaction', 'policy', 'max_interactions',
                                            'max_time', 'fusion', 'mem_freq', 'models')}
        if self.interaction == 'clicks':
            d.update(click_strategy=self.click_strategy, max_clicks=self.max_clicks)
        return d


class SampleRunner:
    """Our method on one sample: robot answer -> interaction mask -> DAVISProcessor policy, with timing."""

    def __init__(self, nets: Networks, images: np.ndarray, num_objects: int, settings: InteractiveSettings,
                 device: str | torch.device, ground_truth: Callable[[int], np.ndarray] | None = None):
        self.processor = DAVISProcessor(nets.prop, nets.fusion, nets.s2m, images, num_objects, device=device,
                                        mem_freq=settings.mem_freq, fusion=settings.fusion, policy=settings.policy)
        self.s2m = nets.s2m
        self.settings = settings
        self.ground_truth = ground_truth  # frame index -> uint8 [H,W] labels (needed by f3 only)
        self.rounds: list[RoundRecord] = []
        self.last_frame: int | None = None

    @property
    def core(self) -> InferenceCore:
        return self.processor.core

    def _click_mask(self, scribble: Mapping, idx: int) -> tuple[torch.Tensor, int]:
        """Simulated clicks on frame idx resolved by S2M -> (mask [K+1,1,Hp,Wp], number of clicks)."""
        core, s = self.core, self.settings
        needs_gt = s.click_strategy == 'f3' and self.ground_truth is not None
        clicks = simulate_clicks(s.click_strategy, scribble['scribbles'][idx], core.k, (core.h, core.w),
                                 s.max_clicks, gt=self.ground_truth(idx) if needs_gt else None,
                                 pred=core.labels(idx) if needs_gt else None)
        left, _, top, _ = core.pad
        clicks = [replace(c, x=c.x + left, y=c.y + top) for c in clicks]  # into the padded frame
        labels = torch.from_numpy(core.labels(idx, padded=True).astype(np.int64))
        return ClickInteraction(self.s2m, clicks).apply(core.frame(idx), labels, core.k), len(clicks)

    def step(self, scribble: Mapping) -> tuple[np.ndarray, list[int] | None]:
        """One round: (labels [T,H,W] to submit, next-frame hint)."""
        start = time.perf_counter()
        strokes_on = [i for i, frame in enumerate(scribble['scribbles']) if frame]
        clicks = None
        if strokes_on:
            idx = strokes_on[0]
            if self.settings.interaction == 'scribbles':
                mask, idx = self.processor.to_mask(scribble)
            else:
                mask, clicks = self._click_mask(scribble, idx)
        elif self.last_frame is not None:
            idx = self.last_frame
            log.info('empty robot answer: confirming frame %d as it is', idx)
            mask = one_hot(torch.from_numpy(self.core.labels(idx, padded=True).astype(np.int64)), self.core.k)
        else:
            log.warning('empty scribble on the first round: submitting the current masks unchanged')
            self.rounds.append(RoundRecord(len(self.rounds) + 1, None, False, None, 0.0, 0.0))
            return self.core.np_masks.copy(), None
        mid = time.perf_counter()
        labels, hint, idx = self.processor.interact_mask(mask, idx)
        end = time.perf_counter()
        self.last_frame = idx
        self.rounds.append(RoundRecord(len(self.rounds) + 1, idx, hint is None, clicks, mid - start, end - mid))
        return labels, hint


class SequenceData:
    """Frames and ground truth of the current sequence, read once per sequence (samples of a sequence are
    consecutive in the session)."""

    def __init__(self, davis_root: Path, facts: Mapping[str, Mapping]):
        self.root, self.facts = davis_root, facts
        self.name: str | None = None
        self.images: np.ndarray | None = None

    def load(self, name: str) -> np.ndarray:
        """uint8 frames [T,H,W,3] of a sequence, checked against the registry facts."""
        if name != self.name:
            images = read_video(self.root / 'JPEGImages' / '480p' / name)  # [T, H, W, 3] uint8
            f = self.facts[name]
            expected = (f['num_frames'], f['image_size'][1], f['image_size'][0])
            if images.shape[:3] != expected:
                raise ValueError(f'{self.root / "JPEGImages" / "480p" / name} holds {images.shape[0]} frames of '
                                 f'{images.shape[2]}x{images.shape[1]} but its annotations have {expected[0]} of '
                                 f'{expected[2]}x{expected[1]}: frames and annotations must match')
            self.name, self.images = name, images
        return self.images

    def ground_truth(self, name: str) -> Callable[[int], np.ndarray]:
        """frame index -> ground-truth labels [H,W] of that frame (read when asked: f3 needs one per round)."""
        return lambda t: read_labels(self.root / 'Annotations' / '480p' / name / f'{t:05d}.png')


def resolve_sequences(davis_root: Path, subset: str, sequences: Sequence[str] | None) -> list[str]:
    """The requested sequences (default: the subset's list), each checked to be in the subset."""
    available = list_subset(davis_root, subset)
    if not sequences:
        return available
    unknown = [s for s in sequences if s not in available]
    if unknown:
        raise ValueError(f'unknown sequences {unknown}: not in ImageSets/2017 of subset {subset!r} under '
                         f'{davis_root} (available: {available})')
    return list(sequences)


def all_samples(facts: Mapping[str, Mapping]) -> list[Sample]:
    """Every (sequence, scribble_idx) in session order."""
    return [(name, i) for name, f in facts.items() for i in range(1, f['num_scribbles'] + 1)]


def save_masks(folder: Path, sample: Sample, round_no: int, labels: np.ndarray) -> None:
    """Palette PNGs of one submission: <folder>/<sequence>/<idx>/<round>/<frame>.png."""
    out = folder / sample[0] / f'{sample[1]:03d}' / f'{round_no:02d}'
    for t, lab in enumerate(labels):
        write_labels(out / f'{t:05d}.png', lab)


def run_sessions(nets: Networks, settings: InteractiveSettings, sequences: Sequence[str], store: SampleStore,
                 device: str | torch.device = 'cpu', mask_folder: Path | None = None) -> list[Sample]:
    """Run the session over the sequences with unfinished samples; returns every requested sample, in order."""
    root = Path(settings.davis)
    with registered_sequences(root, settings.subset, sequences) as facts:
        samples = all_samples(facts)
    todo = [s for s in sequences if any(not store.done(x) for x in samples if x[0] == s)]
    skipped = len(sequences) - len(todo)
    if skipped:
        log.info('resume: %d of %d sequences already finished', skipped, len(sequences))
    if not todo:
        return samples
    patch_davisinteractive()
    from davisinteractive.session import DavisInteractiveSession
    with registered_sequences(root, settings.subset, todo) as facts:
        data = SequenceData(root, facts)
        progress = tqdm(total=sum(f['num_scribbles'] for f in facts.values()), desc='samples', unit='sample')
        session = DavisInteractiveSession(
            host='localhost', davis_root=str(root), subset=settings.subset, shuffle=False,
            max_time=settings.max_time, max_nb_interactions=settings.max_interactions, metric_to_optimize=METRIC,
            report_save_dir=str(store.output / 'session_reports'))
        with torch.inference_mode(), session as sess:
            _loop(sess, nets, settings, data, store, device, mask_folder, progress)
        progress.close()
    return samples


def _loop(sess: Any, nets: Networks, settings: InteractiveSettings, data: SequenceData, store: SampleStore,
          device: str | torch.device, mask_folder: Path | None, progress: tqdm) -> None:
    """The session loop: a new runner per sample; each finished sample is stored at once."""
    started: dict[str, int] = {}
    sample: Sample | None = None
    runner: SampleRunner | None = None

    def finish() -> None:
        if sample is None:
            return
        if not store.done(sample):
            report = sess.get_report()
            rows = report[(report['sequence'] == sample[0]) & (report['scribble_idx'] == sample[1])]
            store.save(sample, rows, runner.rounds, num_objects=runner.core.k, num_frames=runner.core.t)
        progress.update(1)

    while sess.next():
        name, scribble, new_sample = sess.get_scribbles(only_last=True)
        if new_sample:
            finish()
            started[name] = started.get(name, 0) + 1
            sample = (name, started[name])
            progress.set_postfix_str(f'{name} #{sample[1]}')
            runner = SampleRunner(nets, data.load(name), data.facts[name]['num_objects'], settings, device,
                                  data.ground_truth(name))
        labels, hint = runner.step(scribble)
        sess.submit_masks(labels, next_scribble_frame_candidates=hint)
        if mask_folder is not None:
            save_masks(mask_folder, sample, len(runner.rounds), labels)
    finish()


def evaluate_interactive(nets: Networks, settings: InteractiveSettings, output: str | Path,
                         sequences: Sequence[str] | None = None, resume: bool = False,
                         device: str | torch.device = 'cpu', save_mask: bool = False) -> dict[str, Any]:
    """Run (or resume) the evaluation and write report.csv, per_sequence.csv, timing.csv, summary.json and
    jf_curve.png into output; returns the summary (with the printable round table under 'table')."""
    output = Path(output)
    root = Path(settings.davis)
    sequences = resolve_sequences(root, settings.subset, sequences)
    store = SampleStore(output, settings.stored(), resume)
    samples = run_sessions(nets, settings, sequences, store, device, output / 'masks' if save_mask else None)
    missing = [s for s in samples if not store.done(s)]
    if missing:
        raise RuntimeError(f'samples {missing[:5]} did not finish (the session ended early); run again with --resume')
    report = store.report(samples)
    atomic_write_text(output / 'report.csv', report.to_csv())
    per_round = per_sequence_rounds(report)
    atomic_write_text(output / 'per_sequence.csv', per_round.to_csv(index=False))
    rounds = store.rounds(samples)
    atomic_write_text(output / 'timing.csv', rounds.to_csv(index=False))
    summary = table_summary(package_summary(report, root, settings.subset, sequences, settings.max_time,
                                            settings.max_interactions))
    summary.update(samples=len(samples), sequences=len(sequences), timing=timing_summary(rounds, report),
                   settings=settings.stored(), model_files=settings.model_files)
    atomic_write_text(output / 'summary.json', json.dumps(summary, indent=1))
    what = settings.interaction if settings.interaction == 'scribbles' else f'clicks {settings.click_strategy}'
    plot_curves(summary, output / 'jf_curve.png', title=f'DAVIS {settings.subset}, {what}, {settings.policy}')
    summary['table'] = round_table(per_round, summary['J&F per round'])
    return summary
