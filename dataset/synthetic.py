"""Procedural synthetic videos in the real dataset layouts, so every stage can be trained and evaluated offline.

Each video: a textured background seen by a moving camera (pan, zoom, slight rotation) and several textured objects
(random blobs / polygons) that move along smooth curved paths, rotate, scale, deform elastically, occlude each other
(fixed depth order) and may enter or leave the frame. Everything is a pure function of (seed, set, index), so the
output is identical across runs and worker counts.

Written layouts:
* static images (propagation stage 0, S2M): flat `XXXXX.jpg + XXXXX.png` ('L' mask, 0/255) like DUTS/ecssd;
* VOS training set like YouTubeVOS/BL30K: `JPEGImages/<video>/<frame>.jpg`, `Annotations/<video>/<frame>.png`;
* DAVIS-2017 evaluation root (like `DAVIS/2017/trainval`): `JPEGImages/480p`, palette `Annotations/480p`,
  `ImageSets/2017/{train,val}.txt` and initial scribbles `Scribbles/<seq>/NNN.json` made from the ground truth.
"""
from __future__ import annotations

import json
import logging
import math
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from util.files import atomic_write, atomic_write_text
from util.palette import write_labels

log = logging.getLogger(__name__)

# Sub-seeds of the three sets: (seed, SET_ID, index) seeds one item.
STATIC_SET, VOS_SET, DAVIS_SET = 0, 1, 2
JPEG_QUALITY = 92
TEXTURE_KINDS = ('mottled', 'stripes', 'spots', 'cells', 'checks')


@dataclass(frozen=True)
class Look:
    """How a generated set looks: colour saturation (OpenCV HSV, 0..255) and texture kinds of objects and of the
    background + clutter, object size (sprite side as a fraction of min(H, W)) and unlabelled moving distractors."""
    object_saturation: tuple[float, float]
    background_saturation: tuple[float, float]
    object_textures: tuple[str, ...]
    background_textures: tuple[str, ...]
    object_size: tuple[float, float]
    distractors: tuple[int, int]  # min, max unlabelled sprites that look and move like the objects


# shared: objects, moving distractors, background and clutter all come from one appearance distribution, so only
# the first-frame mask and the memory say which region is which object (the default and the quickstart's training
# look). shared_large: the same with objects (and distractors) about twice as large, for small frames (the
# memory-dependence test). salient: saturated objects on desaturated backgrounds, learnable from appearance alone
# (an object-ness shortcut). cells: a held-out look no recipe trains on: other textures (cells, checks) and small
# objects.
LOOKS = {
    'shared': Look((60, 255), (60, 255), TEXTURE_KINDS[:3], TEXTURE_KINDS[:3], (0.3, 0.7), (1, 2)),
    'shared_large': Look((60, 255), (60, 255), TEXTURE_KINDS[:3], TEXTURE_KINDS[:3], (0.6, 1.0), (1, 2)),
    'salient': Look((170, 255), (0, 45), TEXTURE_KINDS[:3], TEXTURE_KINDS[:3], (0.35, 0.7), (0, 0)),
    'cells': Look((40, 255), (40, 255), TEXTURE_KINDS[3:], TEXTURE_KINDS[3:], (0.15, 0.35), (1, 3)),
}


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and counts of a generated data set (defaults: about half a minute on 2 CPU cores)."""
    seed: int = 0
    height: int = 240
    width: int = 432
    static_images: int = 200
    vos_videos: int = 40
    vos_frames: int = 24
    davis_train: int = 4
    davis_val: int = 4
    davis_frames: int = 24
    davis_scribbles: int = 1
    min_objects: int = 1
    max_objects: int = 3
    motion: float = 1.0
    clutter: tuple[int, int] = (2, 6)  # unlabelled object-like shapes in each background: min, max
    look: str = 'shared'  # a key of LOOKS
    workers: int = 1

    def __post_init__(self) -> None:
        checks = {
            'height and width must be >= 32': min(self.height, self.width) >= 32,
            'counts must be >= 0': min(self.static_images, self.vos_videos, self.davis_train, self.davis_val) >= 0,
            'vos_frames and davis_frames must be >= 2': min(self.vos_frames, self.davis_frames) >= 2,
            'davis_scribbles must be in 1..999': 1 <= self.davis_scribbles <= 999,
            'need 1 <= min_objects <= max_objects <= 254': 1 <= self.min_objects <= self.max_objects <= 254,
            'motion must be >= 0': self.motion >= 0,
            'need 0 <= clutter[0] <= clutter[1]': 0 <= self.clutter[0] <= self.clutter[1],
            'workers must be >= 1': self.workers >= 1,
            f'look must be one of {sorted(LOOKS)}': self.look in LOOKS,
        }
        bad = [msg for msg, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f'invalid synthetic data config {asdict(self)}: {"; ".join(bad)}')


# ---------------------------------------------------------------------------------------------------------------
# Textures and shapes

def _fractal_noise(rng: np.random.Generator, h: int, w: int, coarsest: int, octaves: int = 4) -> np.ndarray:
    """Smooth multi-scale noise [h,w] float32 in [0,1]; `coarsest` = cell size in px of the lowest octave."""
    acc = np.zeros((h, w), np.float32)
    cell, amp = float(coarsest), 1.0
    for _ in range(octaves):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        acc += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        cell, amp = max(cell / 2, 1.0), amp * 0.55
    acc -= acc.min()
    return acc / max(float(acc.max()), 1e-6)


def _random_colours(rng: np.random.Generator, n: int, saturation: tuple[float, float] = (60, 255)) -> np.ndarray:
    """n random RGB colours [n,3] float32 in 0..255 (random hue, saturation in the given range, value)."""
    hsv = np.stack([rng.uniform(0, 180, n), rng.uniform(*saturation, n), rng.uniform(70, 250, n)], 1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32)


def make_texture(rng: np.random.Generator, h: int, w: int, scale: float,
                 saturation: tuple[float, float] = (60, 255), kinds: tuple[str, ...] = TEXTURE_KINDS[:3]) -> np.ndarray:
    """An image-like texture [h,w,3] uint8 of a random kind out of `kinds` (TEXTURE_KINDS), with shading and grain."""
    c = _random_colours(rng, 3, saturation)
    base = _fractal_noise(rng, h, w, coarsest=scale)
    kind = kinds[int(rng.integers(len(kinds)))]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 'mottled':  # three colours blended by noise
        t = base[..., None]
        img = c[0] * (1 - t) ** 2 + c[1] * 2 * t * (1 - t) + c[2] * t ** 2
    elif kind == 'stripes':  # wavy stripes
        angle, period = rng.uniform(0, np.pi), rng.uniform(0.08, 0.3) * scale * 2
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) / period + 3 * base
        t = (0.5 + 0.5 * np.sin(2 * np.pi * phase))[..., None]
        img = c[0] * (1 - t) + c[1] * t
    elif kind == 'spots':  # spots on a ground
        spots = (_fractal_noise(rng, h, w, coarsest=scale / 4, octaves=2) > rng.uniform(0.55, 0.7))
        t = cv2.GaussianBlur(spots.astype(np.float32), (0, 0), 1.0)[..., None]
        img = (c[0] * (0.7 + 0.6 * base[..., None])) * (1 - t) + c[1] * t
    elif kind == 'cells':  # Voronoi cells, each a blend of the three colours, with dark borders
        n = max(4, int(h * w / max(scale * 0.6, 2.0) ** 2))
        seeds = np.stack([rng.uniform(0, h, n), rng.uniform(0, w, n)], 1)
        dist, cell = cKDTree(seeds).query(np.stack([yy.ravel(), xx.ravel()], 1), k=2)  # two nearest seeds
        mix = rng.dirichlet(np.ones(3), n).astype(np.float32) @ c  # [n, 3] cell colours
        border = np.clip((dist[:, 1] - dist[:, 0]) / 2, 0, 1).reshape(h, w, 1).astype(np.float32)
        img = mix[cell[:, 0]].reshape(h, w, 3) * (0.35 + 0.65 * border)
    elif kind == 'checks':  # rotated checkerboard bent by noise
        angle, period = rng.uniform(0, np.pi), rng.uniform(0.15, 0.4) * scale * 2
        u = (xx * np.cos(angle) + yy * np.sin(angle)) / period + base
        v = (-xx * np.sin(angle) + yy * np.cos(angle)) / period + base
        t = ((np.floor(u) + np.floor(v)) % 2)[..., None]
        img = c[0] * (1 - t) + c[1] * t
    else:
        raise ValueError(f'unknown texture kind {kind!r}; expected one of {TEXTURE_KINDS}')
    shade = 0.75 + 0.5 * _fractal_noise(rng, h, w, coarsest=scale * 2, octaves=1)[..., None]
    grain = rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    return np.clip(img * shade + grain, 0, 255).astype(np.uint8)


def make_shape(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random blob or polygon mask [size,size] float32 in {0,1}, centred, radius about size/2.6."""
    r0 = size / 2.6
    n = int(rng.integers(3, 9)) if rng.random() < 0.35 else 64
    theta = np.sort(rng.uniform(0, 2 * np.pi, n)) if n < 64 else np.linspace(0, 2 * np.pi, n, endpoint=False)
    radius = np.full(n, r0)
    if n == 64:  # smooth blob: low-order Fourier wobble of the radius
        for k in range(1, 5):
            radius *= 1 + rng.uniform(0, 0.3) / k * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    else:  # polygon: random vertex radii
        radius *= rng.uniform(0.55, 1.1, n)
    aspect = rng.uniform(0.55, 1.0)
    pts = np.stack([size / 2 + radius * np.cos(theta), size / 2 + aspect * radius * np.sin(theta)], 1)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(pts * 4).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=2)
    return mask.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Motion

def _affine(tx: float, ty: float, angle: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """3x3 matrix of x -> scale * R(angle) x + (tx, ty)."""
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty], [0, 0, 1]], np.float64)


def _smooth_path(rng: np.random.Generator, t: np.ndarray, amplitude: float, speed: float) -> np.ndarray:
    """A smooth 1-D trajectory over frames t: drift plus two sinusoids, starting at 0."""
    drift = rng.uniform(-speed, speed)
    out = drift * t
    for _ in range(2):
        a, w, p = rng.uniform(0.3, 1.0) * amplitude, rng.uniform(0.05, 0.18), rng.uniform(0, 2 * np.pi)
        out = out + a * (np.sin(w * t + p) - np.sin(p))
    return out


@dataclass
class _Sprite:
    """One object: texture, shape and per-frame pose (sprite -> world) and elastic deformation fields."""
    texture: np.ndarray      # [S,S,3] uint8
    shape: np.ndarray        # [S,S] float32
    poses: list[np.ndarray]  # T x [3,3]
    warp: np.ndarray         # [2,S,S] float32 unit deformation field (dx, dy)
    warp2: np.ndarray        # [2,S,S] second field, mixed in with a phase shift
    deform: np.ndarray       # [T] deformation amplitude in px


def _make_sprite(rng: np.random.Generator, frames: int, h: int, w: int, centre: np.ndarray,
                 motion: float, look: Look) -> _Sprite:
    """A textured object of the look with a random size, start pose, path, spin, scaling and deformation."""
    size = max(int(rng.uniform(*look.object_size) * min(h, w)), 5) | 1
    t = np.arange(frames, dtype=np.float64)
    xs = centre[0] + _smooth_path(rng, t, 0.22 * w * motion, 0.012 * w * motion)
    ys = centre[1] + _smooth_path(rng, t, 0.18 * h * motion, 0.012 * h * motion)
    angle = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.06, 0.06) * motion * t
    scale = np.exp(rng.uniform(-0.3, 0.3) * motion * t / frames) * (1 + 0.08 * motion * np.sin(0.3 * t))
    half = _affine(-size / 2, -size / 2)
    poses = [_affine(xs[i], ys[i], angle[i], scale[i]) @ half for i in range(frames)]
    fields = [np.stack([cv2.resize(rng.standard_normal((4, 4)).astype(np.float32), (size, size),
                                   interpolation=cv2.INTER_CUBIC) for _ in range(2)]) for _ in range(2)]
    deform = 0.05 * size * motion * np.sin(rng.uniform(0.1, 0.4) * t + rng.uniform(0, 2 * np.pi))
    texture = make_texture(rng, size, size, scale=size / 3, saturation=look.object_saturation,
                           kinds=look.object_textures)
    return _Sprite(texture, make_shape(rng, size), poses, fields[0], fields[1], deform)


def _deformed(sprite: _Sprite, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Texture and shape of the sprite at frame i after its elastic deformation."""
    size = sprite.shape.shape[0]
    grid = np.mgrid[0:size, 0:size].astype(np.float32)  # [2(y,x),S,S]
    a, b = np.float32(sprite.deform[i]), np.float32(sprite.deform[(i + 3) % len(sprite.deform)])
    map_x = grid[1] + a * sprite.warp[0] + b * sprite.warp2[0]
    map_y = grid[0] + a * sprite.warp[1] + b * sprite.warp2[1]
    tex = cv2.remap(sprite.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    shp = cv2.remap(sprite.shape, map_x, map_y, cv2.INTER_LINEAR, borderValue=0)
    return tex, shp


def _camera(rng: np.random.Generator, frames: int, h: int, w: int, margin: int, motion: float) -> list[np.ndarray]:
    """Per-frame world -> image matrices: pan, zoom and slight roll around the view centre."""
    t = np.arange(frames, dtype=np.float64)
    pan_x = _smooth_path(rng, t, 0.25 * margin * motion, 0.25 * margin * motion / frames)
    pan_y = _smooth_path(rng, t, 0.15 * margin * motion, 0.15 * margin * motion / frames)
    zoom = 1 + rng.uniform(-0.15, 0.15) * motion * t / frames
    roll = rng.uniform(-0.08, 0.08) * motion * t / frames
    cx, cy = w / 2 + margin, h / 2 + margin  # view centre in world (= background) coordinates
    return [_affine(w / 2, h / 2) @ _affine(0, 0, roll[i], zoom[i]) @ _affine(-cx - pan_x[i], -cy - pan_y[i])
            for i in range(frames)]


def _background(rng: np.random.Generator, h: int, w: int, clutter: int, look: Look) -> np.ndarray:
    """A large textured world [h,w,3] of the look with unlabelled static clutter shapes pasted in."""
    saturation, kinds = look.background_saturation, look.background_textures
    world = make_texture(rng, h, w, scale=rng.uniform(0.15, 0.4) * min(h, w), saturation=saturation, kinds=kinds)
    world = world.astype(np.float32)
    for _ in range(clutter):
        size = int(rng.uniform(0.1, 0.3) * min(h, w)) | 1
        y, x = int(rng.integers(0, h - size)), int(rng.integers(0, w - size))
        alpha = cv2.GaussianBlur(make_shape(rng, size), (0, 0), 1.5)[..., None]
        patch = make_texture(rng, size, size, scale=size / 3, saturation=saturation, kinds=kinds).astype(np.float32)
        world[y:y + size, x:x + size] = world[y:y + size, x:x + size] * (1 - alpha) + patch * alpha
    return world.astype(np.uint8)


def render_video(rng: np.random.Generator, frames: int, height: int, width: int, num_objects: int,
                 motion: float = 1.0, start_inside: bool = True, clutter: tuple[int, int] = (2, 6),
                 look: str = 'shared') -> tuple[np.ndarray, np.ndarray]:
    """Render one video: uint8 RGB [T,H,W,3] and labels [T,H,W] (0 = background and distractors, 1..K objects).

    Objects and the look's distractors are stacked in a random depth order. start_inside=False lets objects
    start anywhere near the view (some enter later or leave). clutter: how many static unlabelled shapes the
    background gets (min, max); look: a key of LOOKS.
    """
    style = LOOKS[look]
    margin = int(0.35 * max(height, width))
    world = _background(rng, height + 2 * margin, width + 2 * margin,
                        clutter=int(rng.integers(clutter[0], clutter[1] + 1)), look=style)
    cams = _camera(rng, frames, height, width, margin, motion)
    spread = 0.35 if start_inside else 0.7
    ids = list(range(1, num_objects + 1)) + [0] * int(rng.integers(style.distractors[0], style.distractors[1] + 1))
    sprites = []
    for label in rng.permutation(ids):  # random depth order
        s = spread if label else 0.45  # distractors roam the whole view
        start = np.array([margin + width * (0.5 + rng.uniform(-s, s)), margin + height * (0.5 + rng.uniform(-s, s))])
        sprites.append((int(label), _make_sprite(rng, frames, height, width, start, motion, style)))
    gain = 1 + 0.12 * np.sin(rng.uniform(0.05, 0.2) * np.arange(frames) + rng.uniform(0, 6))  # lighting drift
    video = np.empty((frames, height, width, 3), np.uint8)
    labels = np.zeros((frames, height, width), np.uint8)
    for i in range(frames):
        img = cv2.warpAffine(world, cams[i][:2], (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        for label, sprite in sprites:
            tex, shp = _deformed(sprite, i)
            m = (cams[i] @ sprite.poses[i])[:2]
            tex = cv2.warpAffine(tex, m, (width, height), flags=cv2.INTER_LINEAR).astype(np.float32)
            alpha = cv2.warpAffine(shp, m, (width, height), flags=cv2.INTER_LINEAR)
            img = img * (1 - alpha[..., None]) + tex * alpha[..., None]
            labels[i][alpha > 0.5] = label
        video[i] = np.clip(img * gain[i], 0, 255).astype(np.uint8)
    return video, labels


def render_static(rng: np.random.Generator, height: int, width: int, clutter: tuple[int, int] = (2, 6),
                  look: str = 'shared') -> tuple[np.ndarray, np.ndarray]:
    """One image with one annotated object: uint8 RGB [H,W,3] and binary mask [H,W] (1 = object; unlabelled
    clutter and distractors around)."""
    for _ in range(20):  # the object may fall mostly outside the view or behind a distractor: redraw
        video, labels = render_video(rng, 1, height, width, num_objects=1, motion=0.0, clutter=clutter, look=look)
        if (labels[0] > 0).mean() >= 0.02:
            break
    return video[0], (labels[0] > 0).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# Initial scribbles (DAVIS interactive format) from ground truth

def _longest_path(skeleton: np.ndarray) -> list[tuple[int, int]]:
    """Longest shortest path (two breadth-first sweeps) through an 8-connected skeleton piece, as (y, x) pixels."""
    pixels = {tuple(p) for p in np.argwhere(skeleton)}
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]

    def sweep(start):
        parent, queue, last = {start: None}, deque([start]), start
        while queue:
            last = queue.popleft()
            for dy, dx in offsets:
                q = (last[0] + dy, last[1] + dx)
                if q in pixels and q not in parent:
                    parent[q] = last
                    queue.append(q)
        return last, parent

    far, _ = sweep(next(iter(sorted(pixels))))
    end, parent = sweep(far)
    path = [end]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])
    return path


def object_strokes(mask: np.ndarray, min_area: int = 20) -> list[list[tuple[int, int]]]:
    """Skeleton-like strokes inside a binary mask: the longest skeleton path of each sizeable piece, as (x, y)."""
    mask = mask.astype(np.uint8)
    eroded = next((e for e in (cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=n) for n in (2, 1))
                   if e.sum() >= min_area), mask)  # keep strokes off the boundary where the object allows
    pieces, n = ndimage.label(eroded)
    areas = ndimage.sum(eroded, pieces, index=range(1, n + 1))
    strokes = []
    for piece in np.argsort(-areas):
        if areas[piece] < max(min_area, 0.05 * areas.max()):
            continue
        path = _longest_path(skeletonize(pieces == piece + 1))
        path = path[::2] + ([path[-1]] if len(path) % 2 == 0 else [])  # thin the points, keep both ends
        if len(path) == 1:
            path = path * 2
        strokes.append([(x, y) for y, x in path])
    return strokes


def initial_scribbles(labels: np.ndarray, sequence: str, frame: int, rng: np.random.Generator) -> dict:
    """A DAVIS interactive scribble file for labels [T,H,W]: strokes for objects 1..K on one frame, integer ms.

    Pixel (x, y) is stored as ((x + 0.5) / (W - 1), (y + 0.5) / (H - 1)) clipped to 1, so davisinteractive's
    rasteriser (scribbles2mask: multiply by (W-1, H-1), truncate) lands exactly on the pixel.
    """
    t, h, w = labels.shape
    frames: list[list[dict]] = [[] for _ in range(t)]
    clock = 0
    for k in range(1, int(labels.max()) + 1):
        for stroke in object_strokes(labels[frame] == k):
            duration = int(8 * len(stroke) + rng.integers(100, 400))
            frames[frame].append({'path': [[min((x + 0.5) / (w - 1), 1.0), min((y + 0.5) / (h - 1), 1.0)]
                                           for x, y in stroke], 'object_id': k,
                                  'start_time': clock, 'end_time': clock + duration})
            clock += duration + int(rng.integers(200, 900))
    return {'scribbles': frames, 'sequence': sequence}


# ---------------------------------------------------------------------------------------------------------------
# Writers

def _rng(cfg: SyntheticConfig, set_id: int, index: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, set_id, index])


def _save_jpg(path: Path, image: np.ndarray) -> None:
    atomic_write(path, lambda f: Image.fromarray(image).save(f, format='JPEG', quality=JPEG_QUALITY))


def _visible_objects(labels: np.ndarray, k: int, min_area: int) -> np.ndarray:
    """[T] bool: frames where each of objects 1..k covers at least min_area pixels."""
    areas = np.stack([(labels == j).sum(axis=(1, 2)) for j in range(1, k + 1)], 1)  # [T, K]
    return (areas >= min_area).all(1)


def _render_with_retries(rng: np.random.Generator, cfg: SyntheticConfig, frames: int, num_objects: int,
                         require_all_at_start: bool) -> tuple[np.ndarray, np.ndarray]:
    """Render until every object is visible at frame 0 (DAVIS) or some object is (VOS); 20 tries."""
    min_area = max(30, int(0.004 * cfg.height * cfg.width))
    for _ in range(20):
        video, labels = render_video(rng, frames, cfg.height, cfg.width, num_objects, cfg.motion,
                                     start_inside=require_all_at_start, clutter=cfg.clutter, look=cfg.look)
        first = [(labels[0] == k).sum() for k in range(1, num_objects + 1)]
        if (min(first) if require_all_at_start else max(first)) >= min_area:
            return video, labels
    raise RuntimeError(f'could not render a video with visible objects at {cfg.height}x{cfg.width}; '
                       f'use a larger frame size or fewer objects')


def write_static_item(cfg: SyntheticConfig, root: Path, index: int) -> None:
    """static/<index>.jpg + <index>.png ('L', 0/255)."""
    image, mask = render_static(_rng(cfg, STATIC_SET, index), cfg.height, cfg.width, cfg.clutter, cfg.look)
    _save_jpg(root / f'{index:05d}.jpg', image)
    atomic_write(root / f'{index:05d}.png', lambda f: Image.fromarray(mask * 255).save(f, format='PNG'))


def write_vos_item(cfg: SyntheticConfig, root: Path, index: int) -> None:
    """One YouTubeVOS/BL30K-layout video: JPEGImages/<video>/*.jpg and Annotations/<video>/*.png (palette)."""
    rng = _rng(cfg, VOS_SET, index)
    k = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    video, labels = _render_with_retries(rng, cfg, cfg.vos_frames, k, require_all_at_start=False)
    name = f'synth_vos_{index:04d}'
    for i in range(len(video)):
        _save_jpg(root / 'JPEGImages' / name / f'{i:05d}.jpg', video[i])
        write_labels(root / 'Annotations' / name / f'{i:05d}.png', labels[i])


def davis_name(index: int, split: str) -> str:
    """Sequence names that never collide with real DAVIS ones."""
    return f'synth_{split}_{index:03d}'


def write_davis_item(cfg: SyntheticConfig, root: Path, index: int) -> None:
    """One DAVIS-2017 sequence (all objects visible on frame 0) with cfg.davis_scribbles initial scribble files."""
    split = 'train' if index < cfg.davis_train else 'val'
    name = davis_name(index if split == 'train' else index - cfg.davis_train, split)
    rng = _rng(cfg, DAVIS_SET, index)
    k = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    video, labels = _render_with_retries(rng, cfg, cfg.davis_frames, k, require_all_at_start=True)
    for i in range(len(video)):
        _save_jpg(root / 'JPEGImages' / '480p' / name / f'{i:05d}.jpg', video[i])
        write_labels(root / 'Annotations' / '480p' / name / f'{i:05d}.png', labels[i])
    candidates = np.flatnonzero(_visible_objects(labels, k, min_area=max(30, int(0.002 * labels[0].size))))
    scribble_dir = root / 'Scribbles' / name
    scribble_dir.mkdir(parents=True, exist_ok=True)
    for j in range(1, cfg.davis_scribbles + 1):
        frame = 0 if j == 1 else int(rng.choice(candidates))
        scribbles = initial_scribbles(labels, name, frame, rng)
        atomic_write_text(scribble_dir / f'{j:03d}.json', json.dumps(scribbles))


def _run(tasks: list[tuple[Callable, SyntheticConfig, Path, int]], workers: int) -> None:
    if workers <= 1:
        for fn, *args in tasks:
            fn(*args)
        return
    with ProcessPoolExecutor(workers) as pool:
        for future in [pool.submit(fn, *args) for fn, *args in tasks]:
            future.result()


def generate(out: str | Path, cfg: SyntheticConfig = SyntheticConfig()) -> dict[str, Path]:
    """Write the three sets under out/{static,vos,davis}; returns their roots. Deterministic for a given cfg."""
    out = Path(out)
    roots = {'static': out / 'static', 'vos': out / 'vos', 'davis': out / 'davis'}
    for root in roots.values():
        if root.exists() and any(root.iterdir()):
            raise FileExistsError(f'{root} is not empty; choose another output folder or delete it first')
        root.mkdir(parents=True, exist_ok=True)
    tasks = ([(write_static_item, cfg, roots['static'], i) for i in range(cfg.static_images)]
             + [(write_vos_item, cfg, roots['vos'], i) for i in range(cfg.vos_videos)]
             + [(write_davis_item, cfg, roots['davis'], i) for i in range(cfg.davis_train + cfg.davis_val)])
    _run(tasks, cfg.workers)
    sets = roots['davis'] / 'ImageSets' / '2017'
    sets.mkdir(parents=True, exist_ok=True)
    for split, n in (('train', cfg.davis_train), ('val', cfg.davis_val)):
        atomic_write_text(sets / f'{split}.txt', ''.join(f'{davis_name(i, split)}\n' for i in range(n)))
    atomic_write_text(out / 'config.json', json.dumps(asdict(cfg), indent=1))
    log.info('synthetic data written to %s: %d static images, %d VOS videos, %d+%d DAVIS sequences',
             out, cfg.static_images, cfg.vos_videos, cfg.davis_train, cfg.davis_val)
    return roots
