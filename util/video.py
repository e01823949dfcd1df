"""Writing mp4 files, one frame at a time, and the overlay of label maps on frames (reading: util.image_io)."""
from __future__ import annotations

import errno
import itertools
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from util.files import OutputError, atomic_write_path


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 24.0) -> Path:
    """uint8 RGB frames [H,W,3] (an array [T,H,W,3] or any iterable, consumed one frame at a time) -> an mp4 (mp4v
    codec) at path, written atomically (util.files)."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f'no frames to write to {path}')
    h, w = first.shape[:2]

    def encode(tmp: Path) -> None:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
        if not writer.isOpened():
            raise ValueError(f'OpenCV cannot write the video {path}; give a .mp4 (or .avi) file name')
        try:
            for f in itertools.chain([first], frames):
                writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        if tmp.stat().st_size == 0:  # OpenCV reports no write errors: an empty file is the only sign
            raise OutputError(errno.EIO, f'cannot write {path}: OpenCV wrote nothing (is the disk full?)')
    return atomic_write_path(path, encode, suffix='.tmp' + Path(path).suffix)


def overlay(frames: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend label colours over frames: frames [...,H,W,3] uint8 (one frame or T), labels [...,H,W], palette [N,3]
    -> uint8."""
    colours = palette[labels].astype(np.float32)
    out = frames.astype(np.float32)
    fg = (labels > 0)[..., None]
    return np.where(fg, (1 - alpha) * out + alpha * colours, out).round().astype(np.uint8)
