"""Notebook API: a video, the networks and a few calls from interactions to masks.

    session = Session.from_checkpoints('clip.mp4', num_objects=2, prop_model='saves/propagation_model.pth',
                                       fusion_model='saves/fusion.pth', s2m_model='saves/s2m.pth')
    labels = session.set_mask(first_frame_labels, frame=0)          # [T,H,W] uint8, propagated
    labels = session.clicks([Click(120, 80, object_id=1)], frame=30)  # corrected and fused
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from inference.core import FusionMode, InferenceCore
from inference.interaction import Click, ClickInteraction, Interaction, PixelStroke, ScribbleInteraction, \
    StrokeInteraction
from util.image_io import FrameSource, open_frames
from util.palette import DAVIS_PALETTE, VOID, write_labels
from util.tensor_util import one_hot, unpad
from util.video import overlay, write_video
from util.weights import load_network


def present_object_ids(labels: np.ndarray | torch.Tensor) -> list[int]:
    """The object ids a label map holds, sorted (0 = background and 255 = void are not objects)."""
    return [int(v) for v in np.unique(np.asarray(labels)) if v not in (0, VOID)]


class ObjectIds:
    """The caller's object ids (e.g. [2, 7]) <-> the network's channels 1..K; 0 stays background."""

    def __init__(self, ids: int | Sequence[int]):
        ids = list(range(1, ids + 1)) if isinstance(ids, (int, np.integer)) else [v for v in ids]
        if not ids or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 254
                          for v in ids) or len(set(ids)) != len(ids):
            raise ValueError(f'object ids must be distinct whole numbers in 1..254 (0 = background, 255 = void), '
                             f'got {ids!r}')
        self.ids = sorted(int(v) for v in ids)
        self.to_id = np.array([0] + self.ids, dtype=np.uint8)  # channel -> caller's id
        self.to_channel = np.full(256, -1, dtype=np.int64)  # caller's id -> channel (-1: not an object here)
        self.to_channel[[0, VOID]] = 0  # void pixels of a given mask are left to the network (background prior)
        self.to_channel[self.ids] = np.arange(1, len(self.ids) + 1)

    def __len__(self) -> int:
        return len(self.ids)

    def channel(self, object_id: int) -> int:
        """The channel of one of the caller's ids (0 stays 0), with an error naming the known ids."""
        if isinstance(object_id, bool) or not isinstance(object_id, (int, np.integer)) or \
                not 0 <= object_id <= 255 or (object_id and self.to_channel[object_id] <= 0):
            raise ValueError(f'object id {object_id!r} is not one of this session\'s objects {self.ids}')
        return int(self.to_channel[object_id])

    def to_channels(self, labels: np.ndarray | torch.Tensor) -> torch.Tensor:
        """[H,W] map of the caller's ids -> int64 channel map, with a clear error for unknown ids."""
        labels = np.asarray(labels)
        labels = labels.astype(np.uint8) if labels.dtype == bool else labels
        if labels.ndim != 2:
            raise ValueError(f'labels must be a [H,W] map of object ids, got shape {labels.shape}')
        if labels.size and (labels.min() < 0 or labels.max() > 255 or not np.issubdtype(labels.dtype, np.integer)):
            raise ValueError(f'labels must hold whole-number object ids in 0..255, got {labels.dtype} values '
                             f'{labels.min()}..{labels.max()}')
        channels = self.to_channel[labels.astype(np.int64)]
        if (channels < 0).any():
            unknown = sorted(set(labels[channels < 0].tolist()))
            raise ValueError(f'labels hold id {unknown[0]} but the session has objects {self.ids}; create the '
                             f'session with the ids of all objects, e.g. Session(video, present_object_ids(mask), ...)')
        return torch.from_numpy(channels)

    def to_labels(self, channels: np.ndarray) -> np.ndarray:
        """Channel map(s) -> the caller's ids (a new array)."""
        return self.to_id[channels]


def labels_to_mask(labels: np.ndarray | torch.Tensor, num_objects: int | Sequence[int]) -> torch.Tensor:
    """Label map [H,W] of the caller's ids -> one-hot [K+1,1,H,W] (background first), with clear errors."""
    ids = ObjectIds(num_objects)
    return one_hot(ids.to_channels(labels), len(ids))


class Session:
    """Interactive segmentation of one video with MiVOS: every call returns the labels of all frames [T,H,W].

    video: a video file or a folder of frames (read one frame at a time when needed, util.image_io), a FrameSource,
    or uint8 RGB frames [T,H,W,3] in memory.
    num_objects: the number of objects K (ids 1..K) or the ids themselves, e.g. present_object_ids(first_mask) = [2, 7]:
    masks, clicks and strokes use these ids, and every returned or saved label map holds only them (and 0).
    Saving reads the labels frame by frame (frame_labels), so that with the core's default storage (probabilities
    on disk) the memory of a session grows with T only by its label maps (one byte per pixel and frame).
    """

    def __init__(self, video: str | Path | FrameSource | np.ndarray, num_objects: int | Sequence[int],
                 prop_net: torch.nn.Module, fusion_net: torch.nn.Module | None = None,
                 s2m_net: torch.nn.Module | None = None, *, device: str | torch.device = 'cpu', mem_freq: int = 5,
                 fusion: FusionMode | None = None, progress: bool = False, **core_options):
        frames = open_frames(video) if isinstance(video, (str, Path)) else video
        if not isinstance(frames, FrameSource):
            frames = np.asarray(frames)
            if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(f'video must be uint8 RGB [T,H,W,3], got {frames.dtype} {frames.shape}')
        self.frames = frames
        self.s2m_net = s2m_net
        self.ids = ObjectIds(num_objects)
        fusion = fusion or ('diff-aware' if fusion_net is not None else 'none')
        self.core = InferenceCore(prop_net, fusion_net, frames, len(self.ids), mem_freq=mem_freq, device=device,
                                  fusion=fusion, **core_options)
        self.progress = progress
        self.on_frame: Callable[[int, int, int], None] | None = None  # (frame, done, total) after each propagated frame

    @classmethod
    def from_checkpoints(cls, video: str | Path | FrameSource | np.ndarray, num_objects: int | Sequence[int], prop_model: str | Path,
                         fusion_model: str | Path | None = None, s2m_model: str | Path | None = None,
                         device: str | torch.device = 'cpu', **options) -> 'Session':
        """Build the networks from official files or our checkpoints and open a session on the video."""
        nets = [load_network(kind, path, device) if path else None
                for kind, path in (('propagation', prop_model), ('fusion', fusion_model), ('s2m', s2m_model))]
        return cls(video, num_objects, *nets, device=device, **options)

    @property
    def num_objects(self) -> int:
        return self.core.k

    @property
    def object_ids(self) -> list[int]:
        return list(self.ids.ids)

    @property
    def labels(self) -> np.ndarray:
        """Current labels of every frame, uint8 [T,H,W] of the session's ids."""
        return self.ids.to_labels(self.core.np_masks)

    def frame_labels(self, frame: int) -> np.ndarray:
        """Current labels of one frame, uint8 [H,W] of the session's ids."""
        return self.ids.to_labels(self.core.labels(frame))

    @torch.no_grad()
    def set_mask(self, labels: np.ndarray | torch.Tensor, frame: int = 0, propagate: bool = True) -> np.ndarray:
        """Give the full label map [H,W] of one frame (e.g. the first-frame mask of semi-supervised VOS)."""
        if not 0 <= frame < self.core.t:
            raise IndexError(f'frame {frame} is outside the video (0..{self.core.t - 1})')
        return self._commit(one_hot(self.ids.to_channels(labels), self.num_objects), frame, propagate)

    @torch.no_grad()
    def apply(self, interaction: Interaction, frame: int, propagate: bool = True) -> np.ndarray:
        """Run any interaction on a frame (its coordinates are those of the video, its object ids the network's
        channels 1..K, i.e. positions in object_ids), then propagate and fuse."""
        if not 0 <= frame < self.core.t:
            raise IndexError(f'frame {frame} is outside the video (0..{self.core.t - 1})')
        image = unpad(self.core.frame(frame), self.core.pad)  # [1,3,H,W]
        mask = interaction.apply(image, torch.from_numpy(self.core.labels(frame).astype(np.int64)), self.num_objects)
        return self._commit(mask, frame, propagate)

    def clicks(self, clicks: Sequence[Click], frame: int, propagate: bool = True, radius: int = 3) -> np.ndarray:
        """Positive/negative clicks (pixel coordinates) resolved by the S2M network."""
        clicks = [replace(c, object_id=self.ids.channel(c.object_id)) for c in clicks]
        return self.apply(ClickInteraction(self._s2m(), clicks, radius=radius), frame, propagate)

    def scribbles(self, strokes: Sequence[PixelStroke] | Mapping, frame: int | None = None,
                  propagate: bool = True) -> np.ndarray:
        """GUI strokes (PixelStroke, pixel coordinates) or a davisinteractive scribble dict (its annotated frame)."""
        if isinstance(strokes, Mapping):
            from inference.interaction import annotated_frame
            frame = annotated_frame(strokes) if frame is None else frame
            on_frame = [{**s, 'object_id': self.ids.channel(s.get('object_id'))} for s in strokes['scribbles'][frame]]
            return self.apply(ScribbleInteraction(self._s2m(), on_frame, quirk=False), frame, propagate)
        if frame is None:
            raise ValueError('give the frame the strokes were drawn on')
        strokes = [replace(s, object_id=self.ids.channel(s.object_id)) for s in strokes]
        return self.apply(StrokeInteraction(self._s2m(), strokes), frame, propagate)

    def save_masks(self, folder: str | Path, palette: np.ndarray = DAVIS_PALETTE) -> list[Path]:
        """Write one palette PNG per frame (00000.png, ...) into folder."""
        return [write_labels(Path(folder) / f'{t:05d}.png', self.frame_labels(t), palette) for t in range(self.core.t)]

    def save_overlay(self, path: str | Path, fps: float = 24.0, palette: np.ndarray = DAVIS_PALETTE) -> Path:
        """Write an mp4 of the frames with the masks blended over them, one frame at a time."""
        return write_video(path, (overlay(self.frames[t], self.frame_labels(t), palette) for t in range(self.core.t)),
                           fps)

    def _s2m(self) -> torch.nn.Module:
        if self.s2m_net is None:
            raise ValueError('this interaction needs an S2M network: pass s2m_net= (or s2m_model= to from_checkpoints)')
        return self.s2m_net

    def _commit(self, mask: torch.Tensor, frame: int, propagate: bool) -> np.ndarray:
        if not propagate:
            return self.ids.to_labels(self.core.update_mask_only(mask, frame))
        total = sum(len(self.core.propagation_frames(frame, forward)[1]) for forward in (True, False))
        bar = tqdm(total=total, desc='propagating', unit='frame', disable=not self.progress, leave=False)

        done = iter(range(1, total + 1))

        def step(ti: int) -> None:
            bar.update()
            if self.on_frame is not None:
                self.on_frame(ti, next(done), total)
        self.core.on_frame = step
        try:
            labels = self.core.interact(mask, frame)  # [T,H,W], the caller's own array
            for frame_labels in labels:  # mapped in place, one frame at a time: no second [T,H,W] array
                frame_labels[...] = self.ids.to_labels(frame_labels)
            return labels
        finally:
            self.core.on_frame = None
            bar.close()
