"""Notebook API: a video, the networks and a few calls from interactions to masks.

    session = Session.from_checkpoints('clip.mp4', num_objects=2, prop_model='saves/propagation_model.pth',
                                       fusion_model='saves/fusion.pth', s2m_model='saves/s2m.pth')
    labels = session.set_mask(first_frame_labels, frame=0)          # [T,H,W] uint8, propagated
    labels = session.clicks([Click(120, 80, object_id=1)], frame=30)  # corrected and fused
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from inference.core import FusionMode, InferenceCore
from inference.interaction import Click, ClickInteraction, Interaction, PixelStroke, ScribbleInteraction, \
    StrokeInteraction
from inference.interaction.base import one_hot
from util.palette import DAVIS_PALETTE, write_labels
from util.tensor_util import unpad
from util.video import overlay, read_video, write_video
from util.weights import load_network


def labels_to_mask(labels: np.ndarray | torch.Tensor, num_objects: int) -> torch.Tensor:
    """Label map [H,W] with ids 0..K -> one-hot [K+1,1,H,W] (background first), with clear errors."""
    labels = torch.as_tensor(np.asarray(labels)).long()
    if labels.dim() != 2:
        raise ValueError(f'labels must be a [H,W] map of object ids, got shape {tuple(labels.shape)}')
    if labels.numel() and (labels.min() < 0 or labels.max() > num_objects):
        raise ValueError(f'labels hold ids {labels.min().item()}..{labels.max().item()} but the session has '
                         f'{num_objects} objects; create the session with num_objects={labels.max().item()}')
    return one_hot(labels, num_objects)


class Session:
    """Interactive segmentation of one video with MiVOS: every call returns the labels of all frames [T,H,W]."""

    def __init__(self, video: str | Path | np.ndarray, num_objects: int, prop_net: torch.nn.Module,
                 fusion_net: torch.nn.Module | None = None, s2m_net: torch.nn.Module | None = None, *,
                 device: str | torch.device = 'cpu', mem_freq: int = 5, fusion: FusionMode | None = None,
                 progress: bool = False, **core_options):
        frames = read_video(video) if isinstance(video, (str, Path)) else np.asarray(video)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f'video must be uint8 RGB [T,H,W,3], got {frames.dtype} {frames.shape}')
        self.frames = frames
        self.s2m_net = s2m_net
        fusion = fusion or ('diff-aware' if fusion_net is not None else 'none')
        self.core = InferenceCore(prop_net, fusion_net, frames, num_objects, mem_freq=mem_freq, device=device,
                                  fusion=fusion, **core_options)
        self.progress = progress
        self.on_frame: Callable[[int, int, int], None] | None = None  # (frame, done, total) after each propagated frame

    @classmethod
    def from_checkpoints(cls, video: str | Path | np.ndarray, num_objects: int, prop_model: str | Path,
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
    def labels(self) -> np.ndarray:
        """Current labels of every frame, uint8 [T,H,W]."""
        return self.core.np_masks.copy()

    @torch.no_grad()
    def set_mask(self, labels: np.ndarray | torch.Tensor, frame: int = 0, propagate: bool = True) -> np.ndarray:
        """Give the full label map [H,W] of one frame (e.g. the first-frame mask of semi-supervised VOS)."""
        return self._commit(labels_to_mask(labels, self.num_objects), frame, propagate)

    @torch.no_grad()
    def apply(self, interaction: Interaction, frame: int, propagate: bool = True) -> np.ndarray:
        """Run any interaction on a frame (its coordinates are those of the video), then propagate and fuse."""
        if not 0 <= frame < self.core.t:
            raise IndexError(f'frame {frame} is outside the video (0..{self.core.t - 1})')
        image = unpad(self.core.frame(frame), self.core.pad)  # [1,3,H,W]
        mask = interaction.apply(image, torch.from_numpy(self.core.labels(frame).astype(np.int64)), self.num_objects)
        return self._commit(mask, frame, propagate)

    def clicks(self, clicks: Sequence[Click], frame: int, propagate: bool = True, radius: int = 3) -> np.ndarray:
        """Positive/negative clicks (pixel coordinates) resolved by the S2M network."""
        return self.apply(ClickInteraction(self._s2m(), clicks, radius=radius), frame, propagate)

    def scribbles(self, strokes: Sequence[PixelStroke] | Mapping, frame: int | None = None,
                  propagate: bool = True) -> np.ndarray:
        """GUI strokes (PixelStroke, pixel coordinates) or a davisinteractive scribble dict (its annotated frame)."""
        if isinstance(strokes, Mapping):
            from inference.interaction import annotated_frame
            frame = annotated_frame(strokes) if frame is None else frame
            return self.apply(ScribbleInteraction(self._s2m(), strokes['scribbles'][frame], quirk=False), frame,
                              propagate)
        if frame is None:
            raise ValueError('give the frame the strokes were drawn on')
        return self.apply(StrokeInteraction(self._s2m(), strokes), frame, propagate)

    def save_masks(self, folder: str | Path, palette: np.ndarray = DAVIS_PALETTE) -> list[Path]:
        """Write one palette PNG per frame (00000.png, ...) into folder."""
        return [write_labels(Path(folder) / f'{i:05d}.png', lab, palette) for i, lab in enumerate(self.core.np_masks)]

    def save_overlay(self, path: str | Path, fps: float = 24.0, palette: np.ndarray = DAVIS_PALETTE) -> Path:
        """Write an mp4 of the frames with the masks blended over them."""
        return write_video(path, overlay(self.frames, self.core.np_masks, palette), fps)

    def _s2m(self) -> torch.nn.Module:
        if self.s2m_net is None:
            raise ValueError('this interaction needs an S2M network: pass s2m_net= (or s2m_model= to from_checkpoints)')
        return self.s2m_net

    def _commit(self, mask: torch.Tensor, frame: int, propagate: bool) -> np.ndarray:
        if not propagate:
            return self.core.update_mask_only(mask, frame).copy()
        total = sum(len(self.core.propagation_frames(frame, forward)[1]) for forward in (True, False))
        bar = tqdm(total=total, desc='propagating', unit='frame', disable=not self.progress, leave=False)

        done = iter(range(1, total + 1))

        def step(ti: int) -> None:
            bar.update()
            if self.on_frame is not None:
                self.on_frame(ti, next(done), total)
        self.core.on_frame = step
        try:
            return self.core.interact(mask, frame).copy()
        finally:
            self.core.on_frame = None
            bar.close()
