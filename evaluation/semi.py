"""Semi-supervised VOS with the propagation network alone (docs/mivos.md) and the DAVIS J/F evaluation of its masks.

Propagation: the first annotated frame's objects (one-hot, aggregate_wbg with background) are memorised and
propagated forward with MiVOS's memory policy (every mem_freq-th frame permanent + the previous frame, top-k from
the network). Objects that appear later (YouTubeVOS) are part of K from the start (an all-zero mask in the first
memory); at the frame where an object first appears its ground truth is pasted over the current prediction and
that frame becomes a new permanent memory entry from which propagation continues forward (earlier frames are kept).
Evaluation: DAVIS semi-supervised protocol, first and last frame excluded; objects = the ids of the first
ground-truth frame; the mean row averages over all objects of all sequences, as the official benchmark does.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from accel import AcceleratedBackend
from dataset.davis_reader import DAVISTestDataset
from dataset.sequence import VideoSequence
from dataset.youtubevos_reader import YouTubeVOSTestDataset
from inference.backend import Backend
from inference.core import InferenceCore
from model.aggregate import aggregate_wbg
from util.image_io import read_labels
from util.memory import PeakMemory
from util.metrics import frame_scores
from util.palette import write_labels
from util.tensor_util import one_hot, unpad

log = logging.getLogger(__name__)

DATASETS = ('davis', 'youtubevos')
RESULT_COLUMNS = ['Sequence', 'J-Mean', 'F-Mean', 'J&F-Mean', 'Objects']


@dataclass
class SemiDataset:
    """A test set and where its masks go: DAVIS `<out>/<seq>/<frame>.png`, YouTubeVOS `<out>/Annotations/...`."""
    kind: str
    readers: DAVISTestDataset | YouTubeVOSTestDataset
    names: list[str]
    has_ground_truth: bool
    mask_subdir: str = ''

    def __iter__(self) -> Iterator[VideoSequence]:
        return (self.readers.sequence(n) for n in self.names)

    def mask_folder(self, out: Path, name: str) -> Path:
        return out / self.mask_subdir / name if self.mask_subdir else out / name


def open_dataset(kind: str, root: str | Path, year: int = 2017, split: str = 'val',
                 sequences: Sequence[str] | None = None) -> SemiDataset:
    """The DAVIS year/split or the YouTubeVOS folder at root, optionally restricted to some sequences."""
    if kind == 'davis':
        readers = DAVISTestDataset(root, year=year, split=split)
        has_gt, subdir = split != 'test-dev', ''
    elif kind == 'youtubevos':
        readers, has_gt, subdir = YouTubeVOSTestDataset(root), False, 'Annotations'
    else:
        raise ValueError(f'dataset must be one of {DATASETS}, got {kind!r}')
    names = list(readers.names)
    if sequences:
        unknown = [s for s in sequences if s not in names]
        if unknown:
            raise ValueError(f'unknown sequences {unknown} for {kind} {root}'
                             + (f' {year} {split}' if kind == 'davis' else '') + f'; available: {names}')
        names = list(sequences)
    return SemiDataset(kind, readers, names, has_gt, subdir)


def object_mask(labels: np.ndarray, num_objects: int) -> torch.Tensor:
    """Label map [H,W] -> propagation input [K+1,1,H,W]: one-hot of objects 1..K, aggregated with background."""
    lab = torch.from_numpy(np.where(labels <= num_objects, labels, 0).astype(np.int64))
    return aggregate_wbg(one_hot(lab, num_objects)[1:], keep_bg=True)  # [K, 1, H, W] -> [K+1, 1, H, W]


def propagate_sequence(prop_net: torch.nn.Module, seq: VideoSequence, device: str | torch.device = 'cpu',
                       mem_freq: int = 5, backend: Backend | None = None) -> Iterator[np.ndarray]:
    """First-mask propagation of one video (objects appearing later join where they appear) -> the labels [H,W] of
    each frame in order, read from the core one frame at a time (frames, too, are read from disk when needed).

    No object is output before the frame where it is first given (its probability there counts as zero).
    """
    k = seq.num_objects
    if k == 0:
        raise ValueError(f'sequence {seq.name!r} has no object in its annotation {seq.mask_paths[min(seq.mask_paths)]}')
    # every frame is encoded as a query once (each pass starts where the previous one stopped): no feature cache
    core = InferenceCore(prop_net, None, seq.video, k, mem_freq=mem_freq, device=device, fusion='none',
                         feature_cache_size=0, backend=backend)
    starts = sorted(set(seq.first_appearance.values()))
    for i, f in enumerate(starts):
        labels = core.labels(f).copy() if i else np.zeros(seq.size, np.uint8)
        gt = seq.labels(f)
        for obj, first in seq.first_appearance.items():
            if first >= f:  # not given yet: whatever the propagation guessed for it is dropped
                labels[labels == obj] = 0
            if first == f:
                labels[gt == obj] = obj
        stop = starts[i + 1] + 1 if i + 1 < len(starts) else None  # also predict the next start frame
        core.interact(object_mask(labels, k), f, backward=False, stop=stop)

    def frame_labels(t: int) -> np.ndarray:
        prob = core.prob_frame(t)[:, 0].clone()  # [K+1, Hp, Wp]
        for obj in range(1, k + 1):  # ids never annotated (gaps in 1..K) are never output
            if t < seq.first_appearance.get(obj, len(seq)):
                prob[obj] = 0
        return unpad(prob.argmax(dim=0).to(torch.uint8), core.pad).cpu().numpy()
    return (frame_labels(t) for t in range(len(seq)))


@dataclass
class RunStats:
    """Speed and memory of a propagation run."""
    frames: int = 0
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    sequences: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float('nan')


def run_propagation(prop_net: torch.nn.Module, data: SemiDataset, out: Path, device: str | torch.device = 'cpu',
                    mem_freq: int = 5, progress: Iterable | None = None) -> RunStats:
    """Propagate every sequence and write palette PNGs named like the frames (official submission layout)."""
    stats = RunStats()
    device = torch.device(device)
    backend = AcceleratedBackend()  # one for all sequences: networks are prepared once per frame size
    with torch.inference_mode(), PeakMemory(device).track() as mem:
        for seq in (progress if progress is not None else data):
            start, writing = time.perf_counter(), 0.0
            folder = data.mask_folder(out, seq.name)
            for path, lab in zip(seq.frame_paths, propagate_sequence(prop_net, seq, device, mem_freq, backend)):
                written = time.perf_counter()
                write_labels(folder / f'{path.stem}.png', lab, seq.palette)
                writing += time.perf_counter() - written
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            stats.seconds += time.perf_counter() - start - writing  # the propagation, not the PNG writing
            stats.frames += len(seq)
            stats.sequences.append(seq.name)
    stats.peak_memory_mb = mem.peak / 2 ** 20
    return stats


def copy_first_mask(davis: Path, out: Path, split: str = 'val') -> Path:
    """The copy-first-mask baseline: every frame of every sequence gets its first frame's annotation; returns out."""
    for seq in DAVISTestDataset(davis, split=split):
        first = seq.labels(0)
        for path in seq.frame_paths:
            write_labels(out / seq.name / f'{path.stem}.png', first, seq.palette)
    return out


def zip_submission(data: SemiDataset, out: Path) -> Path:
    """submission.zip of the mask folders, laid out as the evaluation servers expect."""
    staging = out / '.submission'
    shutil.rmtree(staging, ignore_errors=True)
    for name in data.names:
        src = data.mask_folder(out, name)
        shutil.copytree(src, data.mask_folder(staging, name))
    archive = shutil.make_archive(str(out / 'submission'), 'zip', staging)
    shutil.rmtree(staging)
    return Path(archive)


def read_prediction(folder: Path, seq: VideoSequence, t: int) -> np.ndarray:
    """Predicted labels [H,W] of frame t from folder/<frame stem>.png, checked against the ground truth."""
    name = seq.frame_paths[t]
    png = folder / f'{name.stem}.png'
    if not png.is_file():
        raise FileNotFoundError(f'prediction {png} is missing: every frame of {seq.name!r} needs a mask named '
                                f'like its frame ({name.name} -> {name.stem}.png)')
    lab = read_labels(png)
    if lab.shape != seq.size:
        raise ValueError(f'prediction {png} is {lab.shape[1]}x{lab.shape[0]}, the ground truth is '
                         f'{seq.size[1]}x{seq.size[0]}')
    if seq.binary:
        return (lab != 0).astype(np.uint8)
    if lab.max() > seq.num_objects:
        raise ValueError(f'prediction {png} holds object id {lab.max()} but {seq.name!r} has {seq.num_objects} '
                         f'objects in its first annotation')
    return lab


def evaluate_sequence(seq: VideoSequence, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-object mean J and F [K] of the predictions in folder over frames 1..T-2 (DAVIS semi-supervised
    protocol), reading one frame at a time; every frame's prediction must exist."""
    if len(seq) < 3:
        raise ValueError(f'sequence {seq.name!r} has {len(seq)} frames; the DAVIS protocol drops the first and '
                         f'last frame, so at least 3 are needed')
    missing = [i for i in range(len(seq)) if i not in seq.mask_paths]
    if missing:
        raise FileNotFoundError(f'sequence {seq.name!r} has no ground truth for frames {missing[:5]}...: '
                                f'evaluation needs every frame annotated (a val split, not test-dev)')
    scores = []  # (J [K], F [K]) of each scored frame
    for t in range(len(seq)):
        pred = read_prediction(folder, seq, t)
        if 0 < t < len(seq) - 1:
            scores.append(frame_scores(seq.labels(t), pred, seq.num_objects))
    j, f = (np.stack(column, axis=1) for column in zip(*scores))  # [K, T-2]
    return j.mean(axis=1), f.mean(axis=1)


def evaluate_predictions(data: SemiDataset, pred_root: Path, progress: Iterable | None = None) -> pd.DataFrame:
    """results table: one row per sequence (mean over its objects) and a last 'Mean' row over all objects."""
    if not data.has_ground_truth:
        raise ValueError(f'{data.kind} {getattr(data.readers, "root", "")} has no ground truth for every frame '
                         f'(test-dev / YouTubeVOS): submit the masks to the evaluation server instead')
    rows, all_j, all_f = [], [], []
    for seq in (progress if progress is not None else data):
        j, f = evaluate_sequence(seq, data.mask_folder(pred_root, seq.name))
        all_j.append(j)
        all_f.append(f)
        rows.append([seq.name, j.mean(), f.mean(), (j.mean() + f.mean()) / 2, len(j)])
    j, f = np.concatenate(all_j), np.concatenate(all_f)
    rows.append(['Mean', j.mean(), f.mean(), (j.mean() + f.mean()) / 2, len(j)])
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
