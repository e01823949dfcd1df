"""DAVIS interactive evaluation with the real davisinteractive session: scribbles (MiVOS), clicks (CiVOS) or the
ground truth (the "perfect interaction" ablation).

Per sample (sequence, initial scribble file) a new DAVISProcessor (docs/davis_protocol.md). Scribbles go through
S2M as in MiVOS. Clicks come from the robot's round by CiVOS's click generating strategies (evaluation.click_robot) and are
resolved by RITM (CiVOS: inference.interaction.civos) or by S2M (MiVOS with clicks). 'oracle' takes the ground
truth of the robot's frame as the interaction. The mask is then applied under the propagation policy: MiVOS's
3-frame schedule, or propagation after every round with the robot choosing the next frame (CiVOS).

Resume: finished samples are stored one file each (evaluation.sample_store). A run starts one session over the
sequences that still have unfinished samples (a partly finished sequence is run again from its first sample: the
session cannot start in the middle of a sequence; results already stored are kept). The global numbers are then
computed from the merged report of all requested samples by an EvaluationService over all requested sequences,
which gives what a single uninterrupted session would report.

An empty robot answer (the chosen frame has no correctable error) is taken as the user confirming the last
annotated frame as it is: its current labels are applied as the interaction, so the policy's schedule keeps
counting rounds and a pending refinement still gets propagated (the original crashes on empty answers). A round
whose strokes give no click (e.g. f3 when every error piece is under the minimum area) changes nothing: the masks
are submitted unchanged and the robot picks the next frame, as CiVOS does.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from accel import AcceleratedBackend
from evaluation.click_robot import STRATEGIES, VOID, ClickStrategy, civos_clicks, click_pixels
from evaluation.davis import DAVISProcessor, Policy
from evaluation.davis_compat import list_subset, patch_davisinteractive, registered_sequences
from evaluation.interactive_summary import package_summary, per_sequence_rounds, plot_curves, round_table, \
    table_summary, timing_summary
from evaluation.sample_store import RoundRecord, Sample, SampleStore
from inference.backend import Backend
from inference.core import FusionMode, InferenceCore
from inference.interaction import Click, ClickInteraction
from inference.interaction.civos import CiVOSInteraction
from inference.interaction.ritm import BRS_MODES
from util.files import atomic_write_text
from util.image_io import ImageFolder, read_labels
from util.palette import write_labels
from util.tensor_util import one_hot, unpad
from util.weights import load_network

log = logging.getLogger(__name__)

InteractionKind = Literal['scribbles', 'clicks', 'oracle']  # what the robot's answers become (not the interaction ABC)
INTERACTIONS = ('scribbles', 'clicks', 'oracle')
ClickModel = Literal['s2m', 'ritm']
CLICK_MODELS = ('s2m', 'ritm')
METRIC = 'J_AND_F'
# CiVOS's DAVIS protocol (its evaluation configuration): f2 with up to 3 clicks per object, error pieces under
# 100 px ignored (f3); propagation after every round with the robot choosing the frame; RITM f-BRS-B, threshold 0.5.
CLICK_ROBOT = {'click_strategy': 'f2', 'max_clicks': 3, 'min_click_area': 100}
CIVOS_PROTOCOL = {**CLICK_ROBOT, 'policy': 'every-round', 'brs_mode': 'f-BRS-B', 'prob_thresh': 0.5}


def protocol_defaults(interaction: InteractionKind, click_model: ClickModel) -> dict[str, Any]:
    """Values of the options left unset: CiVOS's protocol for RITM clicks; otherwise MiVOS's 3-frame schedule
    (with CiVOS's click robot for S2M clicks)."""
    if interaction != 'clicks':
        return {'policy': 'three-frame'}
    return dict(CIVOS_PROTOCOL) if click_model == 'ritm' else {**CLICK_ROBOT, 'policy': 'three-frame'}


@dataclass
class Networks:
    """The networks of a run: propagation, fusion (None unless diff-aware fusion), S2M (scribbles, S2M clicks),
    RITM (CiVOS clicks), and the backend that runs propagation and fusion, shared by every sample (it keeps the
    prepared networks and the conv timings)."""
    prop: torch.nn.Module
    fusion: torch.nn.Module | None = None
    s2m: torch.nn.Module | None = None
    ritm: torch.nn.Module | None = None
    backend: Backend = field(default_factory=AcceleratedBackend)


@dataclass
class InteractiveSettings:
    """Everything that changes the results of a run (stored with it; a resumed run must match). Options left None
    take protocol_defaults(interaction, click_model)."""
    davis: str
    subset: str = 'val'
    interaction: InteractionKind = 'scribbles'
    click_model: ClickModel = 's2m'
    click_strategy: ClickStrategy | None = None
    max_clicks: int | None = None
    min_click_area: int | None = None
    brs_mode: str | None = None
    prob_thresh: float | None = None
    policy: Policy | None = None
    max_interactions: int = 8
    max_time: float | None = 240
    fusion: FusionMode = 'diff-aware'
    top_k: bool = True  # False: the memory read uses every memory position (MiVOS's "no top-k" ablation)
    mem_freq: int = 5
    models: dict[str, str] = field(default_factory=dict)  # network -> 'sha256:<hex>' of its weights file
    model_files: dict[str, str] = field(default_factory=dict)  # network -> path (provenance; not compared)

    def __post_init__(self) -> None:
        if self.interaction not in INTERACTIONS:
            raise ValueError(f'interaction must be one of {INTERACTIONS}, got {self.interaction!r}')
        if self.click_model not in CLICK_MODELS:
            raise ValueError(f'click model must be one of {CLICK_MODELS}, got {self.click_model!r}')
        for name, value in protocol_defaults(self.interaction, self.click_model).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if not 1 <= self.max_interactions <= 16:
            raise ValueError(f'max_interactions must be in 1..16 (davisinteractive caps it), got '
                             f'{self.max_interactions}')
        if self.max_time is not None and not 0 < self.max_time <= 600:
            raise ValueError(f'max_time must be in (0, 600] seconds per object (davisinteractive caps it), got '
                             f'{self.max_time}')
        if self.interaction == 'clicks':
            if self.click_strategy not in STRATEGIES:
                raise ValueError(f'click strategy must be one of {STRATEGIES}, got {self.click_strategy!r}')
            if self.max_clicks < 1:
                raise ValueError(f'max_clicks must be >= 1, got {self.max_clicks}')
            if self.min_click_area < 0:
                raise ValueError(f'min_click_area must be >= 0 pixels, got {self.min_click_area}')
        if self.mem_freq < 1:
            raise ValueError(f'mem_freq must be >= 1, got {self.mem_freq}')
        if self.uses_ritm:
            if self.brs_mode not in BRS_MODES:
                raise ValueError(f'brs_mode must be one of {BRS_MODES}, got {self.brs_mode!r}')
            if not 0 < self.prob_thresh < 1:
                raise ValueError(f'prob_thresh must be in (0, 1), got {self.prob_thresh}')

    @property
    def uses_ritm(self) -> bool:
        return self.interaction == 'clicks' and self.click_model == 'ritm'

    @property
    def uses_s2m(self) -> bool:
        return self.interaction == 'scribbles' or (self.interaction == 'clicks' and self.click_model == 's2m')

    def stored(self) -> dict[str, Any]:
        """The settings as saved in settings.json and summary.json (click options only where they apply)."""
        names = ['davis', 'subset', 'interaction', 'policy', 'max_interactions', 'max_time', 'fusion', 'top_k',
                 'mem_freq', 'models']
        if self.interaction == 'clicks':
            names += ['click_model', 'click_strategy', 'max_clicks', 'min_click_area']
        if self.uses_ritm:
            names += ['brs_mode', 'prob_thresh']
        return {k: getattr(self, k) for k in names}


def load_networks(settings: InteractiveSettings, paths: Mapping[str, str | Path],
                  device: str | torch.device = 'cpu') -> Networks:
    """The networks a run needs, from paths {'prop', 'fusion', 's2m', 'ritm'} (the others are not read); with
    top_k off the propagation network reads all memory."""
    prop = load_network('propagation', paths['prop'], device)
    if not settings.top_k:
        prop.memory.top_k = None  # the same memory read, normalised over every memory position
    return Networks(prop=prop,
                    fusion=load_network('fusion', paths['fusion'], device) if settings.fusion == 'diff-aware' else None,
                    s2m=load_network('s2m', paths['s2m'], device) if settings.uses_s2m else None,
                    ritm=load_network('ritm', paths['ritm'], device) if settings.uses_ritm else None)


class SampleRunner:
    """Our method on one sample: robot answer -> interaction mask -> DAVISProcessor policy, with timing."""

    def __init__(self, nets: Networks, images: np.ndarray, num_objects: int, settings: InteractiveSettings,
                 device: str | torch.device, ground_truth: Callable[[int], np.ndarray] | None = None):
        if settings.interaction != 'scribbles' and ground_truth is None:
            raise ValueError(f'interaction {settings.interaction!r} needs the ground truth of the annotated frames: '
                             'pass ground_truth')
        self.processor = DAVISProcessor(nets.prop, nets.fusion, nets.s2m, images, num_objects, device=device,
                                        mem_freq=settings.mem_freq, fusion=settings.fusion, policy=settings.policy,
                                        backend=nets.backend)
        self.images = images  # uint8 [T,H,W,3]
        self.s2m = nets.s2m
        self.civos = (CiVOSInteraction.with_network(nets.ritm, settings.brs_mode, settings.prob_thresh)
                      if settings.uses_ritm else None)
        self.settings = settings
        self.ground_truth = ground_truth  # frame index -> uint8 [H,W] labels (clicks and oracle)
        self.rounds: list[RoundRecord] = []
        self.last_frame: int | None = None

    @property
    def core(self) -> InferenceCore:
        return self.processor.core

    def _s2m_clicks(self, positives: np.ndarray, negatives: np.ndarray, idx: int) -> torch.Tensor:
        """Pixel click rows resolved by S2M on the padded frame idx -> mask [K+1,1,Hp,Wp] (S2M's click maps: a
        positive click of object k also tells the other objects "not here")."""
        core = self.core
        left, _, top, _ = core.pad
        clicks = [Click(float(x + left), float(y + top), k, positive=positive)
                  for rows, positive in ((positives, True), (negatives, False)) for k, y, x in rows.tolist()]
        labels = torch.from_numpy(core.labels(idx, padded=True).astype(np.int64))
        return ClickInteraction(self.s2m, clicks).apply(core.frame(idx), labels, core.k)

    def _interaction_mask(self, scribble: Mapping, idx: int) -> tuple[torch.Tensor | None, int | None]:
        """(mask [K+1,1,H(p),W(p)] for frame idx, or None when the round gives no click; number of clicks)."""
        core, s = self.core, self.settings
        if s.interaction == 'scribbles':
            return self.processor.to_mask(scribble)[0], None
        gt = self.ground_truth(idx)
        if s.interaction == 'oracle':
            return one_hot(torch.from_numpy(np.where(gt == VOID, 0, gt).astype(np.int64)), core.k), None
        positives, negatives = civos_clicks(s.click_strategy, gt, core.labels(idx), scribble, idx, not self.rounds,
                                            s.max_clicks, s.min_click_area)
        count = len(positives) + len(negatives)
        if count == 0:
            return None, 0
        positives, negatives = click_pixels(positives, gt.shape), click_pixels(negatives, gt.shape)
        if self.civos is None:
            return self._s2m_clicks(positives, negatives, idx), count
        previous = unpad(core.prob_frame(idx)[1:, 0], core.pad) if core.interacted else None  # [K,H,W]
        return self.civos.apply(np.asarray(self.images[idx]), positives, negatives, previous, core.k), count

    def step(self, scribble: Mapping) -> tuple[np.ndarray, list[int] | None]:
        """One round: (labels [T,H,W] to submit, next-frame hint)."""
        start = time.perf_counter()
        strokes_on = [i for i, frame in enumerate(scribble['scribbles']) if frame]
        clicks = None
        if strokes_on:
            idx = strokes_on[0]
            mask, clicks = self._interaction_mask(scribble, idx)
            if mask is None:
                log.info('no click on frame %d this round: masks submitted unchanged', idx)
                self.rounds.append(RoundRecord(len(self.rounds) + 1, idx, False, 0, time.perf_counter() - start, 0.0))
                return self.core.np_masks.copy(), None
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
        self.images: ImageFolder | None = None

    def load(self, name: str) -> ImageFolder:
        """The uint8 frames [T,H,W,3] of a sequence (read one at a time when needed), checked against the registry
        facts."""
        if name != self.name:
            images = ImageFolder(self.root / 'JPEGImages' / '480p' / name)
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
    what = (f'{settings.click_model.upper()} clicks {settings.click_strategy}' if settings.interaction == 'clicks'
            else settings.interaction)
    plot_curves(summary, output / 'jf_curve.png', title=f'DAVIS {settings.subset}, {what}, {settings.policy}')
    summary['table'] = round_table(per_round, summary['J&F per round'])
    return summary
