"""Reading images, videos and label maps, the one place that does: one list of image extensions, one rule for
mask files, one error type (DatasetError) whose one-line messages name the file and say what to do, and frame
sources that read a video (a folder of frames or a video file) one frame at a time, so that no user path holds a
whole video in memory. (Writing palette PNGs: util.palette; mp4 files: util.video.)"""
from __future__ import annotations

import abc
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from util.palette import DAVIS_PALETTE, VOID

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
JPEG_SUFFIXES = ('.jpg', '.jpeg')  # the images of data sets whose .png files are masks


class DatasetError(ValueError):
    """An image, video or mask file, or a data folder, that cannot be read or does not hold what it should."""


# -- files and folders -----------------------------------------------------------------------------------------
def require_dir(path: str | Path, what: str) -> Path:
    """Return path as a Path if it is a directory, else raise naming it and what it should hold."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f'{what} folder {path} does not exist (or is not a directory); check the path')
    return path


def list_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Sorted files of folder whose suffix (lower case) is in suffixes."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def list_frames(folder: str | Path) -> list[Path]:
    """Image files of a folder in name order; error if there are none."""
    files = list_files(Path(folder), IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f'no image files ({", ".join(IMAGE_SUFFIXES)}) in {folder}')
    return files


# -- images ------------------------------------------------------------------------------------------------------
def open_image(path: str | Path) -> Image.Image:
    """Open and decode an image file, raising DatasetError naming a corrupt file."""
    try:
        im = Image.open(path)
        im.load()
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DatasetError(f'cannot read image file {path} ({e}); replace or delete the corrupt file') from e
    return im


def read_rgb(path: str | Path) -> np.ndarray:
    """An image as uint8 RGB [H,W,3] (an owned, writable array)."""
    with open_image(path) as im:
        return np.array(im.convert('RGB'))


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image from its header only."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetError(f'cannot read image file {path} ({e}); replace or delete the corrupt file') from e
    return h, w


def check_same_size(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    """Raise if an image and its mask differ in height/width."""
    if image.shape[:2] != mask.shape[:2]:
        raise DatasetError(
            f'image {image_path} is {image.shape[1]}x{image.shape[0]} but its mask {mask_path} is '
            f'{mask.shape[1]}x{mask.shape[0]}; masks must have the size of their image')


# -- label maps --------------------------------------------------------------------------------------------------
def labels_from_image(im: Image.Image, name: str | Path = 'mask') -> np.ndarray:
    """The one rule for every mask file -> uint8 object ids [H,W] (0 background, 255 void):
    palette (P): the indices; greyscale (L, 1, I): ids 0..127 (255 void) as stored, except a binary mask, which
    becomes ids 0/1: values only 0 and 255, or any value in 128..254 (soft edges, thresholded at 127 as the
    original static-image reader); RGB(A): greyscale when R = G = B, otherwise colours of the DAVIS palette map to
    their indices. Anything else is refused with a message naming the file."""
    if im.mode == 'P':
        return np.array(im, dtype=np.uint8)
    if im.mode in ('RGB', 'RGBA'):
        rgb = np.asarray(im.convert('RGB'))
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return _grey_ids(rgb[..., 0])
        return _palette_ids(rgb, name)
    if im.mode in ('L', '1', 'LA', 'I', 'I;16', 'I;16B', 'I;16L'):
        grey = np.asarray(im.getchannel(0) if im.mode == 'LA' else im)
        if grey.size and (grey.min() < 0 or grey.max() > 255):
            raise DatasetError(f'{name} holds values {grey.min()}..{grey.max()}; object ids must lie in 0..255 '
                               '(save masks as palette or 8-bit greyscale PNGs)')
        return _grey_ids(grey.astype(np.uint8))
    raise DatasetError(f'{name} is a {im.mode} image; masks must be palette (P), greyscale (L) or RGB PNGs of '
                       'object ids (0 = background)')


def _grey_ids(grey: np.ndarray) -> np.ndarray:
    """Greyscale values -> ids (see labels_from_image)."""
    soft = ((grey >= 128) & (grey < VOID)).any()
    if soft or (grey.any() and np.isin(grey, (0, VOID)).all()):
        return (grey > 127).astype(np.uint8)
    return np.ascontiguousarray(grey, dtype=np.uint8)


def _palette_ids(rgb: np.ndarray, name: str | Path) -> np.ndarray:
    """Colours of the DAVIS palette [H,W,3] -> their indices; other colours are an error."""
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    table = {int(r) << 16 | int(g) << 8 | int(b): i for i, (r, g, b) in reversed(list(enumerate(DAVIS_PALETTE)))}
    colours, inverse = np.unique(codes, return_inverse=True)
    unknown = [c for c in colours.tolist() if c not in table]
    if unknown:
        shown = ', '.join(f'({c >> 16},{(c >> 8) & 255},{c & 255})' for c in unknown[:3])
        raise DatasetError(f'{name} is an RGB image with colours {shown} that are not in the DAVIS palette; save '
                           'masks as palette (P) or greyscale (L) PNGs whose values are object ids (0 = background)')
    return np.array([table[c] for c in colours.tolist()], dtype=np.uint8)[inverse].reshape(codes.shape)


def read_labels(path: str | Path) -> np.ndarray:
    """Any mask file -> uint8 object ids [H,W] by the rule of labels_from_image."""
    with open_image(path) as im:
        return labels_from_image(im, path)


def read_palette(path: str | Path) -> np.ndarray:
    """The colour table [256,3] uint8 of a palette PNG (the DAVIS palette if the file has none)."""
    with open_image(path) as im:
        raw = im.getpalette() if im.mode == 'P' else None
    if not raw:
        return DAVIS_PALETTE.copy()
    table = np.zeros((256, 3), dtype=np.uint8)
    rgb = np.asarray(raw, dtype=np.uint8).reshape(-1, 3)[:256]
    table[:len(rgb)] = rgb
    return table


def read_binary_mask(path: str | Path) -> np.ndarray:
    """A static-image mask as bool [H,W]: object = any id other than 0 and void (by labels_from_image; soft
    greyscale edges are thresholded at 127 as the original). A mask without object pixels is an error: every static
    image shows its object."""
    labels = read_labels(path)
    mask = (labels != 0) & (labels != VOID)
    if not mask.any():
        raise DatasetError(f'mask {path} has no object pixels (values {np.unique(labels).tolist()}); every static '
                           'image needs its object marked (non-zero); fix or remove the pair')
    return mask


def read_probability(path: str | Path) -> np.ndarray:
    """A stored probability map (greyscale 'L' PNG of floor(255 p)) as uint8 [H, W]."""
    with open_image(path) as im:
        if im.mode != 'L':
            raise DatasetError(f'{path} is a {im.mode} image; probability maps must be greyscale (L) PNGs of '
                               'floor(255 p)')
        return np.array(im)


# -- videos ------------------------------------------------------------------------------------------------------
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
            raise DatasetError('a frame folder needs at least one frame')
        self.shape = (len(self.paths), *image_size(self.paths[0]), 3)

    def _read(self, ti: int) -> np.ndarray:
        path = self.paths[ti]
        frame = read_rgb(path)
        if frame.shape != self.shape[1:]:
            raise DatasetError(f'frames in {path.parent} have different sizes: {path.name} is '
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
            raise DatasetError(f'cannot read any frame from {self.path}: not a video OpenCV can decode')
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
