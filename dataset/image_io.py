"""Reading training images and masks with errors that name the file and say what to do."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from util.palette import VOID, labels_from_image

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
    """Read a static-image mask as bool [H,W]: object = any id other than 0 and void (util.palette's one rule
    for palette, greyscale 0/1 or 0/255 and RGB masks; soft greyscale edges are thresholded at 127 as the
    original). A mask without object pixels is an error: every static image shows its object."""
    path = Path(path)
    labels = read_label_mask(path)
    mask = (labels != 0) & (labels != VOID)
    if not mask.any():
        raise DatasetError(f'mask {path} has no object pixels (values {np.unique(labels).tolist()}); every static '
                           'image needs its object marked (non-zero); fix or remove the pair')
    return mask


def read_label_mask(path: str | Path) -> np.ndarray:
    """Read a VOS annotation as uint8 object ids [H,W] (0 background, 255 void) by util.palette's one rule."""
    path = Path(path)
    try:
        return labels_from_image(open_image(path), path)
    except DatasetError:
        raise
    except ValueError as e:
        raise DatasetError(str(e)) from None


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
