"""Palette ("P" mode) PNG label maps as DAVIS and YouTubeVOS store them, with the PASCAL-VOC colour map."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

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
            return _grey_ids(rgb[..., 0], name)
        return _palette_ids(rgb, name)
    if im.mode in ('L', '1', 'LA', 'I', 'I;16', 'I;16B', 'I;16L'):
        grey = np.asarray(im.getchannel(0) if im.mode == 'LA' else im)
        if grey.size and (grey.min() < 0 or grey.max() > 255):
            raise ValueError(f'{name} holds values {grey.min()}..{grey.max()}; object ids must lie in 0..255 '
                             '(save masks as palette or 8-bit greyscale PNGs)')
        return _grey_ids(grey.astype(np.uint8), name)
    raise ValueError(f'{name} is a {im.mode} image; masks must be palette (P), greyscale (L) or RGB PNGs of '
                     'object ids (0 = background)')


def _grey_ids(grey: np.ndarray, name: str | Path) -> np.ndarray:
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
        raise ValueError(f'{name} is an RGB image with colours {shown} that are not in the DAVIS palette; save '
                         'masks as palette (P) or greyscale (L) PNGs whose values are object ids (0 = background)')
    return np.array([table[c] for c in colours.tolist()], dtype=np.uint8)[inverse].reshape(codes.shape)


def read_labels(path: str | Path) -> np.ndarray:
    """Any mask file -> uint8 object ids [H,W] by the rule of labels_from_image."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return labels_from_image(im, path)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f'cannot read mask {path}: {e}. Replace or delete the file.') from e


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
