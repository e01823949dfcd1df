"""Reading images and videos: one list of image extensions, and frame sources that read a video (a folder of
frames or a video file) one frame at a time, so that no user path holds a whole video in memory."""
from __future__ import annotations

import abc
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

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
            return np.array(im.convert('RGB'))  # an owned, writable array
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f'cannot read image {path}: {e}. Replace or delete the file.') from e


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image from its header only; clear error for unreadable files."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f'cannot read image {path}: {e}. Replace or delete the file.') from e
    return h, w


class FrameSource(abc.ABC):
    """A video read one frame at a time: frame ti is uint8 RGB [H,W,3]; shape is (T, H, W, 3).
    Usable wherever a [T,H,W,3] array of frames is (InferenceCore, Session)."""

    shape: tuple[int, int, int, int]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, ti: int) -> np.ndarray:
        return self._read(range(len(self))[ti])  # negative indices as for arrays; IndexError beyond the video

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[ti] for ti in range(len(self)))

    @abc.abstractmethod
    def _read(self, ti: int) -> np.ndarray:
        """Frame ti (0 <= ti < T), a new uint8 RGB [H,W,3] array."""


class ImageFolder(FrameSource):
    """Image files (a folder's, sorted by name, or a given list) decoded when a frame is read."""

    def __init__(self, frames: str | Path | Sequence[Path]):
        if isinstance(frames, (str, Path)):
            folder = Path(frames)
            if not folder.is_dir():
                raise FileNotFoundError(f'frame folder not found: {folder} (give a folder of image frames)')
            frames = list_frames(folder)
        self.paths = [Path(p) for p in frames]
        if not self.paths:
            raise ValueError('a frame folder needs at least one frame')
        self.shape = (len(self.paths), *image_size(self.paths[0]), 3)

    def _read(self, ti: int) -> np.ndarray:
        path = self.paths[ti]
        frame = read_image(path)
        if frame.shape != self.shape[1:]:
            raise ValueError(f'frames in {path.parent} have different sizes: {path.name} is '
                             f'{frame.shape[1]}x{frame.shape[0]}, {self.paths[0].name} is {self.shape[2]}x'
                             f'{self.shape[1]}; all frames of a video must have the same size')
        return frame


class VideoFile(FrameSource):
    """A video file (mp4, avi, ... anything OpenCV decodes), decoded once into an unlinked temporary file of raw
    frames (under spill_dir, default the system temp folder), from which any frame is read back on demand."""

    def __init__(self, path: str | Path, spill_dir: str | os.PathLike | None = None):
        self.path = Path(path)
        try:
            self._file = tempfile.TemporaryFile(dir=spill_dir)  # unlinked at once: nothing is left behind
        except OSError as e:
            raise OSError(f'cannot create the frame spill file in {spill_dir or tempfile.gettempdir()} ({e}): '
                          'set TMPDIR to a writable folder') from e
        cap, t, size = cv2.VideoCapture(str(self.path)), 0, None
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                size = size or bgr.shape
                self._file.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).tobytes())
                t += 1
        finally:
            cap.release()
        if not t:
            self._file.close()
            raise ValueError(f'cannot read any frame from {self.path}: not a video OpenCV can decode')
        self._file.flush()
        self.shape = (t, *size)
        self._frame_bytes = int(np.prod(size))

    def _read(self, ti: int) -> np.ndarray:
        raw = os.pread(self._file.fileno(), self._frame_bytes, ti * self._frame_bytes)
        return np.frombuffer(raw, np.uint8).reshape(self.shape[1:]).copy()

    def close(self) -> None:
        """Release the spill file (also done when the source is garbage-collected)."""
        self._file.close()


def open_frames(source: str | Path) -> FrameSource:
    """A folder of frames or a video file (mp4, avi, ...) as a frame source (nothing is held in memory)."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f'video not found: {source} (give a video file or a folder of frames)')
    return ImageFolder(source) if source.is_dir() else VideoFile(source)


def read_video(source: str | Path) -> np.ndarray:
    """A folder of frames or a video file -> all frames in memory, uint8 RGB [T,H,W,3]."""
    return np.stack(list(open_frames(source)))
