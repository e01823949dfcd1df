"""Stage-1/2 propagation data: 3-frame clips of annotated videos (BL30K, YouTubeVOS, DAVIS; docs/mivos.md).

Layout: `im_root/<video>/<frame>.jpg` and `gt_root/<video>/<frame>.png` (palette or greyscale PNGs of object ids).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset
from torchvision.transforms import InterpolationMode, v2

from dataset.rng import SampleRng
from dataset.transforms import im_mean_fill, image_jitter, normalized_rgb, random_affine, to_image, to_mask
from util.image_io import JPEG_SUFFIXES, DatasetError, check_same_size, list_files, read_labels, read_rgb, require_dir

log = logging.getLogger(__name__)

MAX_TRIALS = 5  # re-draws of frames + augmentation while the first frame shows no usable object
# BL30K object rules, in pixels of the augmented first frame / the two other frames of the original's 384 px crop;
# other crop sizes scale them with the crop's area (at 128 px the 384 px counts dropped most objects, so that fewer
# than one sample in five held the two objects that teach identities, and learning through memory never started).
BL_MIN_PIXELS = 10 * 10
BL_LARGE_PIXELS = 30 * 30
BL_SMALL_ELSEWHERE_PIXELS = 20 * 20
BL_CROP = 384


def sample_frame_indices(length: int, max_skip: int, rng: SampleRng) -> list[int]:
    """Three frame indices at most ~max_skip apart (docs/mivos.md), in random temporal direction.

    Faithful to the original, including its clipping: when length <= max_skip the first two indices coincide.
    max_skip 0 (not in the original's curricula) is one frame three times, which differ by the per-frame
    augmentation only: a static-image stage on video frames, where from-scratch training first learns to read
    its memory.
    """
    if length < 3 or max_skip < 0:
        raise ValueError(f'need a video of >= 3 frames and max_skip >= 0, got length {length}, max_skip {max_skip}')
    if max_skip == 0:
        return [rng.randint(0, length)] * 3
    j = min(length, max_skip)
    f0 = rng.randint(0, length - j + 1)
    f1 = min(f0 + rng.randint(0, j + 1) + 1, length - j, length - 1)
    f2 = min(f1 + rng.randint(0, j + 1) + 1, length - j // 2, length - 1)
    indices = [f0, f1, f2]
    if rng.random() < 0.5:
        indices.reverse()
    return indices


def select_objects(labels: np.ndarray, is_bl: bool) -> list[int]:
    """Usable object ids of a clip uint8 [3, H, W]: ids of the first frame; BL30K also drops tiny/vanishing ones
    (the pixel rules scaled by the crop's area relative to the original's 384 x 384: identical at 384)."""
    ids = [int(i) for i in np.unique(labels[0]) if i != 0]
    if not is_bl:
        return ids
    scale = labels.shape[1] * labels.shape[2] / BL_CROP ** 2
    kept = []
    for i in ids:
        area = int((labels[0] == i).sum())
        elsewhere = max(int((labels[1] == i).sum()), int((labels[2] == i).sum()))
        # Small is fine if the object is small everywhere, not if it is really a large one cut off.
        if area > BL_MIN_PIXELS * scale and (area > BL_LARGE_PIXELS * scale
                                             or elsewhere < BL_SMALL_ELSEWHERE_PIXELS * scale):
            kept.append(i)
    return kept


def read_subset(path: str | Path | None) -> set[str] | None:
    """Video names of a subset file (one per line), or None for no restriction."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f'subset file {path} does not exist; pass None to use every video')
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


class VOSDataset(Dataset):
    """3-frame training clips with a target object and an optional second object.

    Sample keys (S = size, 384): 'rgb' float32 [3, 3, S, S] normalised; 'gt' / 'sec_gt' float32 [3, 1, S, S] in
    {0, 1} (target / second object, zeros if absent); 'cls_gt' int64 [3, S, S] (0 bg, 1 target, 2 second);
    'selector' float32 [2] ([1, 1] with a second object, else [1, 0]); 'info' {'name': video, 'frames': the 3 image
    file names, 'num_objects': usable objects in the clip}.
    The effective jump is max_skip // skip_divisor (YouTubeVOS stores every 5th frame: skip_divisor 5).
    Videos with fewer than 3 frames are skipped with a warning (names in `skipped_videos`).
    """

    def __init__(self, im_root: str | Path, gt_root: str | Path, max_skip: int, is_bl: bool,
                 subset: Iterable[str] | None = None, size: int = 384, skip_divisor: int = 1,
                 seed: int | None = None):
        self.im_root, self.gt_root = require_dir(im_root, 'image'), require_dir(gt_root, 'annotation')
        self.is_bl, self.size, self.skip_divisor, self.seed = is_bl, size, skip_divisor, seed
        self.videos, self.frames, self.skipped_videos = self._index(subset)  # frames: image file names per video
        self.set_max_skip(max_skip)
        self.sequence_geometry = v2.Compose([
            v2.RandomHorizontalFlip(),
            v2.RandomResizedCrop(size, scale=(0.25, 1.0) if is_bl else (0.36, 1.0),
                                 interpolation=InterpolationMode.BICUBIC, antialias=True)])
        self.sequence_colour = image_jitter(0.1, 0.03, 0.03, 0, grayscale_p=0.05)
        self.frame_affine = v2.RandomAffine(degrees=15, shear=10, interpolation=InterpolationMode.BICUBIC,
                                            fill=im_mean_fill())
        self.frame_colour = image_jitter(0.01, 0.01, 0.01, 0)

    def _index(self, subset: Iterable[str] | None) -> tuple[list[str], dict[str, list[str]], list[str]]:
        names = sorted(p.name for p in self.im_root.iterdir() if p.is_dir())
        if subset is not None:
            wanted = set(subset)
            absent = sorted(wanted - set(names))
            if absent:
                log.warning('%d subset videos are not in %s (e.g. %s)', len(absent), self.im_root, absent[:3])
            names = [n for n in names if n in wanted]
        videos, frames, skipped = [], {}, []
        for name in names:
            images = [p.name for p in list_files(self.im_root / name, JPEG_SUFFIXES)]
            if len(images) < 3:
                skipped.append(name)
                continue
            missing = [i for i in images if not (self.gt_root / name / Path(i).with_suffix('.png')).is_file()]
            if missing:
                raise DatasetError(f'{len(missing)} of {len(images)} frames of {self.im_root / name} have no '
                                   f'annotation in {self.gt_root / name} (e.g. {Path(missing[0]).stem}.png); '
                                   'every frame needs <frame>.png')
            videos.append(name)
            frames[name] = images
        if skipped:
            log.warning('skipped %d videos with fewer than 3 frames in %s (e.g. %s)', len(skipped), self.im_root,
                        skipped[:3])
        if not videos:
            raise DatasetError(f'no video with >= 3 frames in {self.im_root}; expected <video>/<frame>.jpg folders')
        return videos, frames, skipped

    def set_max_skip(self, max_skip: int) -> None:
        """Set the curriculum's max skip J (the trainer calls this per epoch); frames are at most J // divisor apart.

        J = 0 asks for one frame three times (sample_frame_indices); a J that the divisor rounds to 0 is refused.
        """
        if max_skip != 0 and max_skip // self.skip_divisor < 1:
            raise ValueError(f'max_skip {max_skip} // skip_divisor {self.skip_divisor} must be >= 1 (or max_skip 0: '
                             'one frame three times)')
        self.max_skip = max_skip

    @property
    def effective_skip(self) -> int:
        """Frame-index jump actually used for sampling."""
        return self.max_skip // self.skip_divisor

    def __len__(self) -> int:
        return len(self.videos)

    def _read_clip(self, video: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rgbs, labels = [], []
        for name in names:
            im_path, gt_path = self.im_root / video / name, self.gt_root / video / Path(name).with_suffix('.png')
            rgb, label = read_rgb(im_path), read_labels(gt_path)
            check_same_size(rgb, label, im_path, gt_path)
            if rgbs and rgb.shape != rgbs[0].shape:
                raise DatasetError(f'frames of {self.im_root / video} differ in size ({im_path}); resize the video')
            rgbs.append(rgb)
            labels.append(label)
        return np.stack(rgbs), np.stack(labels)

    def _augment(self, rgb: np.ndarray, labels: np.ndarray, rng: SampleRng) -> tuple[torch.Tensor, np.ndarray]:
        """Sequence-level then per-frame augmentation; returns uint8 [3, 3, S, S] images and uint8 [3, S, S] ids."""
        images, masks = rng.apply(self.sequence_geometry, to_image(rgb), to_mask(labels))
        images = rng.apply(self.sequence_colour, images)
        out_images, out_masks = [], []
        for image, mask in zip(images, masks):
            image, mask = random_affine(self.frame_affine, rng, image, mask)
            out_images.append(rng.apply(self.frame_colour, image).as_subclass(torch.Tensor))
            out_masks.append(mask.as_subclass(torch.Tensor)[0])
        return torch.stack(out_images), torch.stack(out_masks).numpy()

    def __getitem__(self, index: int) -> dict[str, Any]:
        video = self.videos[index]
        frames = self.frames[video]
        rng = SampleRng.for_sample(self.seed, index)
        for _ in range(MAX_TRIALS):
            names = [frames[i] for i in sample_frame_indices(len(frames), self.effective_skip, rng)]
            images, labels = self._augment(*self._read_clip(video, names), rng)
            objects = select_objects(labels, self.is_bl)
            if objects:
                break
        target = rng.choice(objects) if objects else None
        others = [o for o in objects if o != target]
        second = rng.choice(others) if others else None
        gt = torch.from_numpy(labels == target if target is not None else np.zeros_like(labels, bool))
        sec_gt = torch.from_numpy(labels == second if second is not None else np.zeros_like(labels, bool))
        cls_gt = gt.long() + 2 * sec_gt.long()  # [3, S, S]
        return {'rgb': normalized_rgb(images), 'gt': gt.float().unsqueeze(1), 'sec_gt': sec_gt.float().unsqueeze(1),
                'cls_gt': cls_gt, 'selector': torch.tensor([1.0, 1.0 if second is not None else 0.0]),
                'info': {'name': video, 'frames': names, 'num_objects': len(objects)}}


def video_sets(dataset: Dataset) -> Iterator[Dataset]:
    """The sets inside dataset (ConcatDatasets are searched) that take a max skip: VOSDataset or alike."""
    if hasattr(dataset, 'set_max_skip'):
        yield dataset
    elif isinstance(dataset, ConcatDataset):
        for child in dataset.datasets:
            yield from video_sets(child)


def set_max_skip(dataset: Dataset, max_skip: int) -> None:
    """The curriculum's max skip on every video set inside dataset."""
    for video_set in video_sets(dataset):
        video_set.set_max_skip(max_skip)


def build_bl30k(bl_root: str | Path, max_skip: int, **kwargs: Any) -> VOSDataset:
    """Stage-1 data: BL30K/{JPEGImages,Annotations}/<video>/... with the BL30K object rules."""
    bl_root = Path(bl_root)
    return VOSDataset(bl_root / 'JPEGImages', bl_root / 'Annotations', max_skip, is_bl=True, **kwargs)


def build_stage2_mixture(yv_root: str | Path, davis_root: str | Path, max_skip: int,
                         yv_subset_file: str | Path | None = None, davis_subset_file: str | Path | None = None,
                         **kwargs: Any) -> ConcatDataset:
    """Stage-2 data: concat([DAVIS] x 5 + [YouTubeVOS]) (docs/mivos.md).

    YouTubeVOS: yv_root/train_480p/{JPEGImages,Annotations} (skip_divisor 5), restricted to yv_subset_file if
    given (the original's util/yv_subset.txt, 3,464 videos). DAVIS: davis_root/2017/trainval/{JPEGImages,
    Annotations}/480p, restricted to davis_subset_file, else to ImageSets/2017/train.txt if present (the same 60
    training videos as the original's util/davis_subset.txt), else every video.
    """
    yv = Path(yv_root) / 'train_480p'
    davis = Path(davis_root) / '2017' / 'trainval'
    if davis_subset_file is None and (davis / 'ImageSets' / '2017' / 'train.txt').is_file():
        davis_subset_file = davis / 'ImageSets' / '2017' / 'train.txt'
    davis_set = VOSDataset(davis / 'JPEGImages' / '480p', davis / 'Annotations' / '480p', max_skip, is_bl=False,
                           subset=read_subset(davis_subset_file), **kwargs)
    yv_set = VOSDataset(yv / 'JPEGImages', yv / 'Annotations', max_skip, is_bl=False,
                        subset=read_subset(yv_subset_file), skip_divisor=5, **kwargs)
    return ConcatDataset([davis_set] * 5 + [yv_set])
