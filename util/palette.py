"""Palette ("P" mode) PNG label maps as DAVIS and YouTubeVOS store them, with the PASCAL-VOC colour map: the
colours and writing (reading any mask file: util.image_io.read_labels)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from util.files import atomic_write


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


VOID = 255  # DAVIS / YouTubeVOS "void" (unlabelled border) id


def write_labels(path: str | Path, labels: np.ndarray, palette: np.ndarray = DAVIS_PALETTE) -> Path:
    """uint8-compatible label map [H,W] -> palette PNG at path (parents created), written atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f'labels for {path} must be [H,W], got shape {labels.shape}')
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f'labels for {path} must lie in 0..255, got {labels.min()}..{labels.max()}')
    h, w = labels.shape
    im = Image.frombytes('P', (w, h), np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    im.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    return atomic_write(path, lambda f: im.save(f, format='PNG'))
