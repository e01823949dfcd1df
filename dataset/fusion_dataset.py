"""Fusion training samples from pre-generated propagation results (docs/mivos.md).

Generated data: `fusion_root/<run>/<video>/<ref %05d>/<object id %05d>/<frame %05d>.png` = uint8 floor(255 p), the
probability of the object when the GT of frame <ref> was propagated. Images and GT come from
`im_root/<video>/*.jpg` and `gt_root/<video>/*.png`; frame number i is the i-th file in sorted order (for DAVIS and
BL30K the file names are the frame numbers). Hidden `.<video>.partial` folders (a generation killed mid-video)
are skipped with a warning naming them. A sample asks: given the propagation from reference r1 and the newer
one from r2, what is object o at frame t?
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dataset.rng import SampleRng
from dataset.transforms import image_jitter, normalized_rgb, to_image
from util.files import is_partial_dir
from util.image_io import JPEG_SUFFIXES, DatasetError, list_files, read_labels, read_probability, read_rgb, \
    require_dir

log = logging.getLogger(__name__)

SAMPLES_PER_VIDEO = 100
MAX_TRIALS = 20
STRICT_TRIALS = 15  # trials in which too-similar propagations are rejected
MIN_DIFFERENT_PIXELS = 100
DIFFERENCE_THRESHOLD = 25.5  # 10% of 255

Propagations = dict[int, dict[int, set[int]]]  # ref -> object -> frames with a propagated mask
Window = tuple[slice, slice, bool]  # crop rows, crop columns, horizontal flip


def _crop(array: np.ndarray, window: Window) -> np.ndarray:
    """[H, W, ...] -> the window's [S, S, ...] (flipped left-right if the window says so), contiguous."""
    rows, cols, flip = window
    out = array[rows, cols]
    return np.ascontiguousarray(out[:, ::-1] if flip else out)


def _numbered_dirs(path: Path) -> list[tuple[int, Path]]:
    return sorted((int(e.name), Path(e.path)) for e in os.scandir(path) if e.is_dir() and e.name.isdigit())


def _index_video(video_dir: Path) -> Propagations:
    """ref -> object -> set of frame numbers of one generated video folder."""
    return {ref: {obj: {int(f.name[:-4]) for f in os.scandir(obj_dir) if f.name.endswith('.png')}
                  for obj, obj_dir in _numbered_dirs(ref_dir)}
            for ref, ref_dir in _numbered_dirs(video_dir)}


class FusionDataset(Dataset):
    """Samples for the difference-aware fusion network; length = samples_per_video x videos.

    Sample keys (S = size, 384; probabilities float32 in [0, 1], masks in {0, 1}):
    'rgb' [3, S, S] normalised frame t; 'gt' [1, S, S]; 'seg1' / 'seg2' [1, S, S] propagations from r1 / r2 at t;
    'src2_ref' [1, S, S] r1's propagation at r2 (old mask); 'src2_ref_gt' [1, S, S] GT at r2 (new mask);
    'src2_ref_im' [3, S, S] normalised frame r2; 'sec_gt', 'sec_seg1', 'sec_seg2', 'sec_src2_ref',
    'sec_src2_ref_gt' the same for the second object (zeros if absent); 'dist' [2] = [|r1-t|, |r2-t|] / |r1-r2|;
    'selector' [2] ([1, 1] or [1, 0]); 'cls_gt' int64 [S, S] in {0, 1, 2}; 'info' {'name', 'run', 'frame', 'r1',
    'r2', 'objects'}. The second object is any object (chosen at random) propagated to t from both references.
    """

    def __init__(self, fusion_root: str | Path, im_root: str | Path, gt_root: str | Path, size: int = 384,
                 samples_per_video: int = SAMPLES_PER_VIDEO, seed: int | None = None):
        self.fusion_root = require_dir(fusion_root, 'fusion data')
        self.im_root, self.gt_root = require_dir(im_root, 'image'), require_dir(gt_root, 'annotation')
        self.size, self.samples_per_video, self.seed = size, samples_per_video, seed
        self.runs: dict[str, list[tuple[str, Propagations]]] = {}
        incomplete = []
        for run in sorted(p for p in self.fusion_root.iterdir() if p.is_dir()):
            for video_dir in sorted(p for p in run.iterdir() if p.is_dir()):
                if is_partial_dir(video_dir.name):
                    incomplete.append(f'{run.name}/{video_dir.name}')
                    continue
                props = _index_video(video_dir)
                if len(props) >= 2:
                    self.runs.setdefault(video_dir.name, []).append((run.name, props))
        self.videos = sorted(self.runs)
        skipped = (f'; skipped {len(incomplete)} incomplete video folder(s) of an interrupted '
                   f'generate_fusion_data.py run ({", ".join(incomplete)}): run it again to complete them'
                   if incomplete else '')
        if not self.videos:
            raise DatasetError(f'no video with propagations from >= 2 reference frames in {self.fusion_root}; '
                               f'expected <run>/<video>/<ref>/<object>/<frame>.png{skipped}')
        if incomplete:
            log.warning('fusion data %s: using %d complete video(s)%s', self.fusion_root, len(self.videos), skipped)
        self.frames = {v: [p.name for p in list_files(require_dir(self.im_root / v, 'video'), JPEG_SUFFIXES)]
                       for v in self.videos}
        self.colour = image_jitter(0.1, 0.03, 0.03, 0.01)

    def __len__(self) -> int:
        return self.samples_per_video * len(self.videos)

    def _path(self, run: str, video: str, ref: int, obj: int, frame: int) -> Path:
        return self.fusion_root / run / video / f'{ref:05d}' / f'{obj:05d}' / f'{frame:05d}.png'

    def _window(self, video: str, h: int, w: int, rng: SampleRng) -> Window:
        """The crop (rows, columns) and horizontal flip of one trial (RandomCrop + RandomHorizontalFlip, docs/mivos.md)."""
        if h < self.size or w < self.size:
            raise DatasetError(f'frames of {self.im_root / video} are {w}x{h}, smaller than the crop {self.size}; '
                               'fusion crops never pad: lower size or use larger frames')
        top, left = rng.randint(0, h - self.size + 1), rng.randint(0, w - self.size + 1)
        return slice(top, top + self.size), slice(left, left + self.size), rng.random() < 0.5

    def _draw(self, video: str, rng: SampleRng) -> tuple[str, Propagations, int, int, int, int, Window]:
        """(run, propagations, r1, r2, object, t, crop window) passing the difference rule inside the crop (relaxed
        after 15 trials), as the original checks it on the cropped propagations."""
        for trial in range(MAX_TRIALS):
            run, props = rng.choice(self.runs[video])
            r1 = rng.choice(sorted(props))
            obj = rng.choice(sorted(props[r1]))
            t = rng.choice(sorted(props[r1][obj]))
            # r1's propagation must reach r2, and r2's propagation must reach t.
            r2s = [r for r in sorted(props) if r != r1 and r in props[r1][obj] and t in props[r].get(obj, ())]
            if not r2s:
                continue
            r2 = rng.choice(r2s)
            seg1 = read_probability(self._path(run, video, r1, obj, t))
            window = self._window(video, *seg1.shape, rng)
            seg1 = _crop(seg1, window).astype(np.float32)
            seg2 = _crop(read_probability(self._path(run, video, r2, obj, t)), window).astype(np.float32)
            if trial < STRICT_TRIALS and (np.abs(seg1 - seg2) > DIFFERENCE_THRESHOLD).sum() < MIN_DIFFERENT_PIXELS:
                continue
            return run, props, r1, r2, obj, t, window
        raise DatasetError(f'no usable (r1, r2, object, frame) found in {MAX_TRIALS} trials for video {video} in '
                           f'{self.fusion_root}; its runs need two references whose propagations overlap')

    def __getitem__(self, index: int) -> dict[str, Any]:
        video = self.videos[index % len(self.videos)]
        rng = SampleRng.for_sample(self.seed, index)
        run, props, r1, r2, obj, t, window = self._draw(video, rng)
        seconds = [o for o in sorted(props[r1]) if o != obj and t in props[r1][o] and r2 in props[r1][o]
                   and t in props[r2].get(o, ())]
        second = rng.choice(seconds) if seconds else None
        names = self.frames[video]
        if max(t, r2) >= len(names):
            raise DatasetError(f'{self._path(run, video, r1, obj, t)} refers to frame {max(t, r2)} but '
                               f'{self.im_root / video} has only {len(names)} frames')
        images = [read_rgb(self.im_root / video / names[f]) for f in (t, r2)]
        labels = [read_labels(self.gt_root / video / Path(names[f]).with_suffix('.png')) for f in (t, r2)]
        h, w = images[0].shape[:2]
        planes = []  # per object: gt, seg1, seg2, src2_ref, src2_ref_gt (uint8, 0/255 for GT)
        for o in (obj, second):
            if o is None:
                planes += [np.zeros((h, w), np.uint8)] * 5
                continue
            planes += [(labels[0] == o).astype(np.uint8) * 255,
                       read_probability(self._path(run, video, r1, o, t)),
                       read_probability(self._path(run, video, r2, o, t)),
                       read_probability(self._path(run, video, r1, o, r2)),
                       (labels[1] == o).astype(np.uint8) * 255]
        if any(p.shape != (h, w) for p in [*planes, *labels, images[1][..., 0]]):
            raise DatasetError(f'propagated masks of {self.fusion_root / run / video} do not match the '
                               f'{w}x{h} frames of {self.im_root / video}')
        image = rng.apply(self.colour, to_image(np.stack([_crop(im, window) for im in images])))
        image = normalized_rgb(image)  # [2, 3, S, S]
        planes = torch.from_numpy(np.stack([_crop(p, window) for p in planes])).float().div(255).unsqueeze(1)
        keys = ('gt', 'seg1', 'seg2', 'src2_ref', 'src2_ref_gt')  # planes: [10, 1, S, S]
        sample = dict(zip(keys, planes[:5])) | {f'sec_{k}': p for k, p in zip(keys, planes[5:])}
        sample.update({
            'rgb': image[0], 'src2_ref_im': image[1],
            'dist': torch.tensor([abs(r1 - t), abs(r2 - t)], dtype=torch.float32) / abs(r1 - r2),
            'selector': torch.tensor([1.0, 1.0 if second is not None else 0.0]),
            'cls_gt': (sample['gt'][0] > 0.5).long() + 2 * (sample['sec_gt'][0] > 0.5).long(),
            'info': {'name': video, 'run': run, 'frame': t, 'r1': r1, 'r2': r2,
                     'objects': [obj, second if second is not None else 0]}})
        return sample
