"""Reading videos (a folder of frames or a video file) as uint8 RGB arrays, and writing mp4 files."""
from __future__ import annotations

import errno
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from util.files import OutputError, atomic_write_path

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def list_frames(folder: str | Path) -> list[Path]:
    """Image files of a folder in name order; error if there are none."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f'no image files ({", ".join(IMAGE_SUFFIXES)}) in {folder}')
    return files


def read_image(path: str | Path) -> np.ndarray:
    """One image as uint8 RGB [H,W,3], with a clear error for unreadable files."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert('RGB'))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f'cannot read image {path}: {e}. Replace or delete the file.') from e


def read_video(source: str | Path) -> np.ndarray:
    """A folder of frames or a video file (mp4, avi, ...) -> uint8 RGB [T,H,W,3]."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f'video not found: {source} (give a video file or a folder of frames)')
    if source.is_dir():
        frames = [read_image(p) for p in list_frames(source)]
        sizes = {f.shape for f in frames}
        if len(sizes) > 1:
            raise ValueError(f'frames in {source} have different sizes {sorted(sizes)}; resize them to one size')
        return np.stack(frames)
    cap = cv2.VideoCapture(str(source))
    frames = []
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise ValueError(f'cannot read any frame from {source}: not a video OpenCV can decode')
    return np.stack(frames)


def write_video(path: str | Path, frames: np.ndarray, fps: float = 24.0) -> Path:
    """uint8 RGB [T,H,W,3] -> an mp4 (mp4v codec) at path, written atomically (util.files)."""
    t, h, w, _ = frames.shape

    def encode(tmp: Path) -> None:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
        if not writer.isOpened():
            raise ValueError(f'OpenCV cannot write the video {path}; give a .mp4 (or .avi) file name')
        try:
            for f in frames:
                writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        if tmp.stat().st_size == 0:  # OpenCV reports no write errors: an empty file is the only sign
            raise OutputError(errno.EIO, f'cannot write {path}: OpenCV wrote nothing (is the disk full?)')
    return atomic_write_path(path, encode, suffix='.tmp' + Path(path).suffix)


def overlay(frames: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend label colours over frames: frames [T,H,W,3] uint8, labels [T,H,W], palette [N,3] -> uint8."""
    colours = palette[labels].astype(np.float32)
    out = frames.astype(np.float32)
    fg = (labels > 0)[..., None]
    return np.where(fg, (1 - alpha) * out + alpha * colours, out).round().astype(np.uint8)
