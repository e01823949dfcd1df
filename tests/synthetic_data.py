"""Small generated datasets for the dataset tests: textured images, polygon masks, palette videos, fusion trees."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128] + [0] * (768 - 15)


def textured_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """uint8 RGB [h, w, 3]: smooth gradients plus noise, so geometric transforms are visible."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], -1)
    return np.clip(base + rng.integers(0, 60, (h, w, 3)), 0, 255).astype(np.uint8)


def polygon_mask(rng: np.random.Generator, h: int, w: int, n: int = 6, value: int = 255,
                 into: np.ndarray | None = None) -> np.ndarray:
    """uint8 [h, w] with a random star-shaped polygon of `value` (drawn into `into` if given)."""
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.15, 0.3, n) * min(h, w)
    points = [(float(cx + r * np.cos(a)), float(cy + r * np.sin(a))) for a, r in zip(angles, radii)]
    im = Image.fromarray(np.zeros((h, w), np.uint8) if into is None else into)
    ImageDraw.Draw(im).polygon(points, fill=value)
    return np.asarray(im).copy()


def write_flat_static(folder: Path, n: int, h: int = 40, w: int = 52, seed: int = 0) -> Path:
    """folder/XXX.jpg + XXX.png (flat static layout)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(textured_image(rng, h, w)).save(folder / f'im{i:03d}.jpg')
        Image.fromarray(polygon_mask(rng, h, w)).save(folder / f'im{i:03d}.png')
    return folder


def write_palette(path: Path, labels: np.ndarray) -> None:
    """Save object ids as a palette PNG."""
    im = Image.fromarray(labels.astype(np.uint8), mode='P')
    im.putpalette(PALETTE)
    im.save(path)


def moving_labels(rng: np.random.Generator, t: int, h: int, w: int, n_objects: int) -> np.ndarray:
    """uint8 [t, h, w]: n_objects rectangles drifting over time (ids 1..n_objects)."""
    labels = np.zeros((t, h, w), np.uint8)
    for obj in range(1, n_objects + 1):
        bh, bw = rng.integers(h // 4, h // 2), rng.integers(w // 4, w // 2)
        y0, x0 = rng.integers(0, h - bh), rng.integers(0, w - bw)
        for f in range(t):
            y, x = min(y0 + f, h - bh), min(x0 + f, w - bw)
            labels[f, y:y + bh, x:x + bw] = obj
    return labels


def write_vos(root: Path, videos: dict[str, int], h: int = 48, w: int = 64, n_objects: int = 2,
              seed: int = 0) -> tuple[Path, Path]:
    """root/JPEGImages/<video>/%05d.jpg + root/Annotations/<video>/%05d.png for {video: n_frames}."""
    rng = np.random.default_rng(seed)
    im_root, gt_root = root / 'JPEGImages', root / 'Annotations'
    for video, t in videos.items():
        (im_root / video).mkdir(parents=True)
        (gt_root / video).mkdir(parents=True)
        labels = moving_labels(rng, t, h, w, n_objects)
        for f in range(t):
            Image.fromarray(textured_image(rng, h, w)).save(im_root / video / f'{f:05d}.jpg')
            write_palette(gt_root / video / f'{f:05d}.png', labels[f])
    return im_root, gt_root


def write_fusion_tree(root: Path, labels: np.ndarray, shifts: dict[int, int], run: str = 'run0',
                      video: str = 'vid', objects: tuple[int, ...] | None = None, drift: int = 0) -> Path:
    """root/<run>/<video>/<ref %05d>/<obj %05d>/<frame %05d>.png for each reference ref in shifts: every object's GT
    shifted right by shifts[ref] + drift * (frame - ref) px (references with different shifts disagree; drift makes
    a propagation worse with the distance from its reference, as real ones are), stored as floor(255 p)."""
    out = root / run / video
    for ref, shift in shifts.items():
        ids = objects if objects is not None else sorted(set(np.unique(labels[ref]).tolist()) - {0})
        for obj in ids:
            folder = out / f'{ref:05d}' / f'{obj:05d}'
            folder.mkdir(parents=True)
            for f in range(len(labels)):
                prob = np.roll(labels[f] == obj, shift + drift * (f - ref), axis=1) * 0.9
                Image.fromarray(np.floor(255 * prob).astype(np.uint8), mode='L').save(folder / f'{f:05d}.png')
    return out
