"""Palette ("P" mode) PNG label maps as DAVIS and YouTubeVOS store them, with the PASCAL-VOC colour map."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


def voc_palette(n: int = 256) -> np.ndarray:
    """PASCAL-VOC colour map [n,3] uint8: bits 3j, 3j+1, 3j+2 of index i go to bit 7-j of R, G, B."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


DAVIS_PALETTE = voc_palette()


def read_labels(path: str | Path) -> np.ndarray:
    """A palette (or single-channel) PNG -> uint8 label map [H,W] of its indices; RGB masks are refused."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ('P', 'L'):
                return np.array(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f'cannot read mask {path}: {e}. Replace or delete the file.') from e
    raise ValueError(
        f'mask {path} is a {mode} image; object ids must be stored as palette indices ("P" mode PNG, '
        f'as DAVIS/YouTubeVOS do). Convert it, e.g. with util.palette.write_labels(path, labels).')


def read_palette(path: str | Path) -> np.ndarray:
    """The colour table [256,3] uint8 of a palette PNG (the DAVIS palette if the file has none)."""
    with Image.open(path) as im:
        raw = im.getpalette() if im.mode == 'P' else None
    if not raw:
        return DAVIS_PALETTE.copy()
    table = np.zeros((256, 3), dtype=np.uint8)
    rgb = np.asarray(raw, dtype=np.uint8).reshape(-1, 3)[:256]
    table[:len(rgb)] = rgb
    return table


def write_labels(path: str | Path, labels: np.ndarray, palette: np.ndarray = DAVIS_PALETTE) -> Path:
    """uint8-compatible label map [H,W] -> palette PNG at path (parents created)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f'labels for {path} must be [H,W], got shape {labels.shape}')
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f'labels for {path} must lie in 0..255, got {labels.min()}..{labels.max()}')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = labels.shape
    im = Image.frombytes('P', (w, h), np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    im.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    im.save(path)
    return path
