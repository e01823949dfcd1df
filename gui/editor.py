"""Editing state of the annotation tool over one `Session`: interactions shown before propagation, undo, propagation
in a worker thread with per-frame progress events, atomic save and loading of a mask folder.

As in MiVOS's GUI, an interaction only changes the frame it is drawn on (`update_mask_only`) and several can be
stacked; "propagate" then hands that frame's labels to the core (propagate both ways + fuse). Unlike the original,
edits stay tied to their frame: moving to another frame and propagating propagates the edited frame(s), not the
frame on screen.

Clicks go through S2M, or through RITM when the editor has a CiVOS interaction (`ritm`). RITM clicks follow CiVOS
(paper §3): an object's clicks on a frame form a round; every click re-runs a fresh RITM predictor on all clicks of
the round, in order, with the object's soft mask from before the round's first click as the previous mask, and
the result replaces the object's mask, combined with the other objects' masks as CiVOS does. The round ends when
another tool changes that object's mask on that frame, when the frame is reset, on propagation (CiVOS starts a
round from the propagated mask) and on loading masks; undo brings back the rounds an edit ended or extended.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch

from gui.events import EventLog
from inference.interaction import Click, ClickInteraction, FreehandInteraction, Interaction, LocalInteraction, \
    PixelStroke, StrokeInteraction
from inference.interaction.base import check_object_id
from inference.interaction.canvas import check_in_image
from inference.interaction.civos import CiVOSInteraction, combine_objects
from inference.interaction.local import Box, check_roi
from inference.session import Session
from util.files import atomic_dir
from util.image_io import read_labels
from util.palette import DAVIS_PALETTE
from util.tensor_util import label_map, one_hot, unpad

Tool = Literal['scribble', 'click', 'free']
SAVED_FILE = re.compile(r'\d{5}\.png|overlay\.mp4')  # what a save writes (and may replace)


class Busy(RuntimeError):
    """The request cannot run now (a propagation is running); nothing was changed."""


@dataclass(frozen=True)
class ClickRound:
    """One object's RITM clicks on one frame: its soft mask before the first of them and the clicks in order."""

    previous: torch.Tensor  # float [H, W]
    clicks: tuple[tuple[bool, int, int], ...] = ()  # (is_positive, y, x)


@dataclass(frozen=True)
class Edit:
    """One interaction not yet propagated: its frame, tool, and the frame's labels and click rounds (by object)
    before it (for undo)."""

    frame: int
    tool: str
    before: np.ndarray  # uint8 [H, W]
    rounds: Mapping[int, ClickRound]


def mask_files(folder: str | Path) -> list[Path]:
    """The palette PNGs of a mask folder in name order (one per frame), with clear errors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f'mask folder not found: {folder}')
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == '.png')
    if not files:
        raise ValueError(f'no PNG masks in {folder}')
    return files


def brush_mask(points: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    """Float [H, W] mask of a free-hand stroke: a polyline (x, y) drawn `size` px thick (a dot for one point)."""
    mask = np.zeros(shape, np.uint8)
    pts = np.round(points).astype(np.int32)
    if len(pts) == 1:
        cv2.circle(mask, tuple(pts[0].tolist()), max(size // 2, 0), 1, thickness=-1)
    else:
        cv2.polylines(mask, [pts.reshape(-1, 1, 2)], False, 1, thickness=max(size, 1))
    return mask.astype(np.float32)


class Editor:
    """The annotation state of one video: what is shown, what is pending, and the jobs that change it."""

    def __init__(self, session: Session, output: Path | None = None, fps: float = 24.0,
                 palette: np.ndarray = DAVIS_PALETTE, ritm: CiVOSInteraction | None = None):
        self.session, self.output, self.fps, self.palette, self.ritm = session, output, fps, palette, ritm
        self.num_frames, self.height, self.width = session.frames.shape[:3]
        self.history: list[Edit] = []
        self.rounds: dict[tuple[int, int], ClickRound] = {}  # (frame, object) -> its RITM clicks so far
        self.loaded: set[int] = set()  # frames showing loaded masks that no propagation has reached since
        self.events = EventLog()
        self.revision = 0  # bumped on every change of the labels: the page re-fetches masks when it moves
        self.propagating = False
        self._mutex = threading.Lock()
        self._worker: threading.Thread | None = None

    # -- queries -----------------------------------------------------------------------------------------------
    @property
    def pending(self) -> list[int]:
        """Frames with interactions that are not propagated yet, in the order they were first edited."""
        return list(dict.fromkeys(e.frame for e in self.history))

    @property
    def click_model(self) -> str:
        """What resolves clicks: 'S2M' or 'RITM (<BRS mode>)'."""
        return 'S2M' if self.ritm is None else f'RITM ({self.ritm.make_predictor().brs_mode})'

    @property
    def tools(self) -> list[str]:
        """The tools this editor can run (scribbles need S2M, clicks S2M or RITM)."""
        return [t for t, usable in (('scribble', self.session.s2m_net is not None),
                                    ('click', self.session.s2m_net is not None or self.ritm is not None),
                                    ('free', True)) if usable]

    @property
    def interacted(self) -> list[int]:
        """Frames whose interactions were propagated (the core's memory)."""
        return sorted(self.session.core.interacted)

    def labels(self, frame: int) -> np.ndarray:
        """Labels shown on a frame, uint8 [H, W]."""
        self.check_frame(frame)
        return self.session.core.labels(frame)

    def check_frame(self, frame: int) -> None:
        """Frames are 0..T-1."""
        if not 0 <= frame < self.num_frames:
            raise ValueError(f'frame {frame} is outside the video (0..{self.num_frames - 1})')

    # -- edits -------------------------------------------------------------------------------------------------
    def interact(self, frame: int, tool: Tool, object_id: int, points: Sequence[Sequence[float]],
                 positive: bool = True, brush: int = 15, box: Box | None = None) -> int:
        """Apply one scribble / click / free-hand stroke on a frame (inside `box` only, if given); -> pixels changed."""
        self.check_frame(frame)
        check_object_id(object_id, self.session.num_objects, 'selected object', background=False)
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(xy) == 0:
            raise ValueError(f'the {tool} has no points')
        check_in_image(xy, (self.height, self.width), tool)
        if box is not None:
            box = check_roi(tuple(int(v) for v in box), (self.height, self.width))
            x0, y0, x1, y1 = box
            if not ((xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1)).any():
                raise ValueError(f'the {tool} lies outside the local-control box ({x0},{y0})-({x1},{y1}): draw '
                                 'inside it, or press Esc to leave local control')
        with self._editing():
            before, rounds = self.labels(frame).copy(), self._rounds_on(frame)
            if tool == 'click' and self.ritm is not None:
                self._ritm_click(frame, object_id, xy[-1], positive, box)
            else:
                self.session.apply(self._interaction(tool, object_id, xy, positive, brush, box, before), frame,
                                   propagate=False)
                after = self.labels(frame)
                for k in rounds:  # another tool changed these objects: their click rounds are over
                    if ((before == k) != (after == k)).any():
                        del self.rounds[frame, k]
            return self._record(Edit(frame, tool, before, rounds))

    def _ritm_click(self, frame: int, object_id: int, point: np.ndarray, positive: bool, box: Box | None) -> None:
        """Add a click (x, y) to the object's round on the frame and show RITM's answer to the whole round."""
        if box is not None:
            raise ValueError('RITM clicks work on the whole frame, not in local control: finish local control (Esc) '
                             'to click, or scribble inside the box')
        soft = self._soft_masks(frame)
        x, y = (int(v) for v in point)
        started = self.rounds.get((frame, object_id)) or ClickRound(soft[object_id - 1].clone())
        now = ClickRound(started.previous, (*started.clicks, (positive, y, x)))
        soft[object_id - 1] = self.ritm.object_prob(self.session.frames[frame], now.clicks, now.previous)
        labels = label_map(combine_objects(soft[:, None]))[0]
        self.session.set_mask(labels.cpu().numpy(), frame, propagate=False)
        self.rounds[frame, object_id] = now

    def _soft_masks(self, frame: int) -> torch.Tensor:
        """The objects' soft masks on a frame [K, H, W]: the last propagation's probabilities while the frame shows
        them (CiVOS's previous masks), else (edited or loaded since) the labels shown, as a hard mask."""
        core = self.session.core
        prob = unpad(core.prob_frame(frame), core.pad)  # [K+1, 1, H, W]
        if frame in self.pending or frame in self.loaded:
            prob = one_hot(self.labels(frame), self.session.num_objects).to(prob.device)
        return prob[1:, 0].clone()

    def _rounds_on(self, frame: int) -> dict[int, ClickRound]:
        """The click rounds on a frame, by object."""
        return {k: r for (f, k), r in self.rounds.items() if f == frame}

    def _interaction(self, tool: Tool, object_id: int, xy: np.ndarray, positive: bool, brush: int, box: Box | None,
                     labels: np.ndarray) -> Interaction:
        if tool == 'free':  # positive paints the object, negative erases it; outside the box nothing changes
            stroke = brush_mask(xy, brush, labels.shape)
            if box is not None:
                inside = np.zeros_like(stroke)
                inside[box[1]:box[3], box[0]:box[2]] = 1
                stroke *= inside
            current = (labels == object_id).astype(np.float32)
            return FreehandInteraction(object_id, np.maximum(current, stroke) if positive else current * (1 - stroke))
        s2m = self.session.s2m_net
        if s2m is None:
            raise ValueError(f'the {tool} tool needs an S2M network: start the tool with --s2m-model')
        if tool == 'scribble':  # a negative scribble labels background, as the original's right button
            inner = StrokeInteraction(s2m, [PixelStroke([tuple(p) for p in xy], object_id if positive else 0)])
        elif tool == 'click':
            x, y = xy[-1]
            inner = ClickInteraction(s2m, [Click(float(x), float(y), object_id, positive)])
        else:
            raise ValueError(f'unknown tool {tool!r}; expected scribble, click or free')
        return inner if box is None else LocalInteraction(inner, box)

    def reset_frame(self, frame: int) -> int:
        """Clear a frame to background (an edit like any other: undo brings the labels back)."""
        self.check_frame(frame)
        with self._editing():
            before, rounds = self.labels(frame).copy(), self._rounds_on(frame)
            self.session.set_mask(np.zeros_like(before), frame, propagate=False)
            for k in rounds:
                del self.rounds[frame, k]
            return self._record(Edit(frame, 'reset', before, rounds))

    def undo(self) -> Edit:
        """Take back the last interaction that is not propagated yet."""
        with self._editing():
            if not self.history:
                raise ValueError('nothing to undo: every interaction has been propagated (a propagation cannot be '
                                 'undone; correct a frame and propagate again)')
            edit = self.history.pop()
            self.session.set_mask(edit.before, edit.frame, propagate=False)
            for k in self._rounds_on(edit.frame):
                del self.rounds[edit.frame, k]
            self.rounds.update({(edit.frame, k): r for k, r in edit.rounds.items()})
            self.revision += 1
            return edit

    def _record(self, edit: Edit) -> int:
        self.history.append(edit)
        self.revision += 1
        return int((self.labels(edit.frame) != edit.before).sum())

    # -- propagation -------------------------------------------------------------------------------------------
    def start_propagation(self) -> list[int]:
        """Propagate every edited frame (in edit order) in a worker thread; progress goes to `events`."""
        with self._editing():
            frames = self.pending
            if not frames:
                raise ValueError('nothing to propagate yet: scribble, click or paint on a frame first, then propagate')
            snapshot = {f: self.labels(f).copy() for f in frames}  # the first pass overwrites later edited frames
            self.propagating = True
        self._worker = threading.Thread(target=self._propagate, args=(snapshot,), name='propagation', daemon=True)
        self._worker.start()
        return frames

    def _propagate(self, snapshot: dict[int, np.ndarray]) -> None:
        start = time.perf_counter()
        passes = len(snapshot)
        try:
            for i, (frame, labels) in enumerate(snapshot.items(), start=1):
                def reached(ti: int, done: int, total: int, i: int = i, frame: int = frame) -> None:
                    self.loaded.discard(ti)
                    self.events.push('progress', frame=ti, done=done, total=total, source=frame, step=i, steps=passes)
                self.loaded.discard(frame)
                self.session.on_frame = reached
                self.session.set_mask(labels, frame)
            with self._mutex:
                self.history.clear()
                self.rounds.clear()
                self.revision += 1
            self.events.push('done', frames=list(snapshot), seconds=round(time.perf_counter() - start, 3),
                             revision=self.revision)
        except Exception as e:  # the page must hear about any failure; the labels keep what was propagated
            self.revision += 1
            self.events.push('failed', message=f'propagation failed: {e}', revision=self.revision)
        finally:
            self.session.on_frame = None
            self.propagating = False

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running propagation (if any) ends."""
        if self._worker is not None:
            self._worker.join(timeout)

    @contextmanager
    def _editing(self) -> Iterator[None]:
        """Hold the mutex for a change of the labels; refused while a propagation is running."""
        with self._mutex:
            if self.propagating:
                raise Busy('a propagation is running: wait for the progress bar to finish')
            yield

    # -- files -------------------------------------------------------------------------------------------------
    def save(self, folder: str | Path | None = None) -> Path:
        """Palette PNGs (00000.png, ...) + overlay.mp4 into folder, atomically: a failed save keeps the previous."""
        folder = Path(folder) if folder else self.output
        if folder is None:
            raise ValueError('no output folder: give one in the page, or start the tool with --output OUT')
        folder = folder.expanduser().absolute()
        if folder.is_dir() and any(not SAVED_FILE.fullmatch(p.name) for p in folder.iterdir()):
            raise ValueError(f'{folder} holds other files than an earlier save (NNNNN.png, overlay.mp4); choose an '
                             'empty or new folder, or an earlier save to replace')
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir():
            raise ValueError(f'cannot save to {folder}: {existing} is a file, not a folder; choose a folder')
        with self._editing():
            try:
                with atomic_dir(folder) as tmp:
                    self._write(tmp)
            except OSError as e:
                raise ValueError(f'cannot save to {folder}: {e.strerror or e}; choose a writable folder (nothing was '
                                 'written; any previous save there is kept)') from e
            except (RuntimeError, ValueError) as e:
                raise ValueError(f'saving to {folder} failed: {e}; any previous save there is kept') from e
            return folder

    def _write(self, folder: Path) -> None:
        self.session.save_masks(folder, self.palette)
        self.session.save_overlay(folder / 'overlay.mp4', self.fps, self.palette)

    def load(self, folder: str | Path) -> int:
        """Show the palette PNGs of a folder (one per frame, in name order) as the labels of every frame."""
        folder = Path(folder).expanduser()
        with self._editing():
            if self.history:
                raise ValueError(f'frames {self.pending} have edits that are not propagated: propagate or undo them '
                                 'before loading masks')
            files = mask_files(folder)
            if len(files) != self.num_frames:
                raise ValueError(f'{folder} has {len(files)} PNG masks but the video has {self.num_frames} frames')
            labels = [read_labels(p) for p in files]
            for path, lab in zip(files, labels):
                if lab.shape != (self.height, self.width):
                    raise ValueError(f'mask {path} is {lab.shape[1]}x{lab.shape[0]} but the video is '
                                     f'{self.width}x{self.height}')
                if lab.max() > self.session.num_objects:
                    raise ValueError(f'mask {path} holds object {lab.max()} but the tool has '
                                     f'{self.session.num_objects} objects; restart it with --num-objects {lab.max()}')
            for frame, lab in enumerate(labels):
                self.session.set_mask(lab, frame, propagate=False)
            self.rounds.clear()
            self.loaded = set(range(self.num_frames))
            self.revision += 1
            return len(files)
