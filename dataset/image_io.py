"""Reading training images and masks with errors that name the file and say what to do."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTS = ('.jpg', '.jpeg', '.png')


class DatasetError(ValueError):
    """A dataset folder or file does not have the expected layout or content."""


def require_dir(path: str | Path, what: str) -> Path:
    """Return path as a Path if it is a directory, else raise naming it and what it should hold."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f'{what} folder {path} does not exist (or is not a directory); check the path')
    return path


def open_image(path: Path) -> Image.Image:
    """Open and decode an image file, raising DatasetError naming a missing or corrupt file."""
    try:
        im = Image.open(path)
        im.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DatasetError(f'cannot read image file {path} ({e}); replace or delete the corrupt file') from e
    return im


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image as uint8 RGB [H, W, 3]."""
    return np.array(open_image(Path(path)).convert('RGB'))


def read_binary_mask(path: str | Path) -> np.ndarray:
    """Read a static-image mask (greyscale PNG, any mode converted to 'L') as bool [H, W]: value/255 > 0.5."""
    return np.asarray(open_image(Path(path)).convert('L')) > 127


def read_label_mask(path: str | Path) -> np.ndarray:
    """Read a VOS annotation (palette 'P' or single-channel 'L' PNG of object ids) as uint8 [H, W]."""
    path = Path(path)
    im = open_image(path)
    if im.mode not in ('P', 'L'):
        raise DatasetError(
            f'{path} is a {im.mode} image, but annotations must be palette (P) or greyscale (L) PNGs whose pixel '
            'values are object ids (0 = background); convert the colours to ids and save with mode P or L')
    return np.array(im)


def read_probability(path: str | Path) -> np.ndarray:
    """Read a stored probability map (greyscale 'L' PNG of floor(255 p)) as uint8 [H, W]."""
    path = Path(path)
    im = open_image(path)
    if im.mode != 'L':
        raise DatasetError(f'{path} is a {im.mode} image; probability maps must be greyscale (L) PNGs of floor(255 p)')
    return np.array(im)


def check_same_size(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    """Raise if an image and its mask differ in height/width."""
    if image.shape[:2] != mask.shape[:2]:
        raise DatasetError(
            f'image {image_path} is {image.shape[1]}x{image.shape[0]} but its mask {mask_path} is '
            f'{mask.shape[1]}x{mask.shape[0]}; masks must have the size of their image')


def list_files(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    """Sorted files of folder whose suffix (lower case) is in exts."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts)
