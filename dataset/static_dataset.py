"""Stage-0 propagation data: 3-frame pseudo-videos made from one image + mask (docs/mivos.md).

Folder layouts (one root each):
* flat ("method 1", DUTS, ecssd, BIG_small, HRSOD_small, our synthetic set): `root/XXX.jpg + root/XXX.png`;
* FSS ("method 0"): `root/<class>/<n>.jpg + root/<class>/<n>.png`.
Masks are greyscale PNGs, object = value/255 > 0.5.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import ConcatDataset, Dataset
from torchvision.transforms import InterpolationMode, v2

from dataset.rng import SampleRng
from dataset.transforms import im_mean_fill, image_jitter, normalized_rgb, random_affine, to_image, to_mask, tps_warp
from util.image_io import JPEG_SUFFIXES, DatasetError, check_same_size, list_files, read_binary_mask, read_rgb, \
    require_dir

log = logging.getLogger(__name__)

# Original mixture: concat([fss, DUTS-TR, DUTS-TE, ecssd] + [BIG_small, HRSOD_small] x 5).
STATIC_MIXTURE = ('fss', 'DUTS-TR', 'DUTS-TE', 'ecssd') + ('BIG_small', 'HRSOD_small') * 5

Pair = tuple[Path, Path]  # (image .jpg, mask .png)


def _pairs_in(folder: Path) -> list[Pair]:
    """Image/mask pairs XXX.jpg + XXX.png of one folder; raise if some image or mask has no partner."""
    images = {p.stem: p for p in list_files(folder, JPEG_SUFFIXES)}
    masks = {p.stem: p for p in list_files(folder, ('.png',))}
    lone_images = sorted(images.keys() - masks.keys())
    lone_masks = sorted(masks.keys() - images.keys())
    if lone_images or lone_masks:
        raise DatasetError(
            f'{folder}: {len(images)} images and {len(masks)} masks do not pair up ({len(lone_images)} images '
            f'without mask, e.g. {lone_images[:3]}; {len(lone_masks)} masks without image, e.g. {lone_masks[:3]}); '
            'every XXX.jpg needs a mask XXX.png next to it')
    return [(images[s], masks[s]) for s in sorted(images)]


def find_static_pairs(root: str | Path) -> list[Pair]:
    """All (image, mask) pairs of a static root, flat layout if the root holds images, else FSS (one level down)."""
    root = require_dir(root, 'static image')
    if list_files(root, JPEG_SUFFIXES + ('.png',)):
        pairs = _pairs_in(root)
    else:
        pairs = [pair for sub in sorted(p for p in root.iterdir() if p.is_dir()) for pair in _pairs_in(sub)]
    if not pairs:
        raise DatasetError(f'no image/mask pairs (XXX.jpg + XXX.png) found in {root} or its sub-folders')
    return pairs


def static_mixture_folders(static_root: str | Path) -> list[Path]:
    """Folders of the static mixture with the original repetitions (docs/mivos.md), in concatenation order.

    Missing named folders are skipped with a warning. If none of the six named folders exists, the root is used as
    it is: once if it holds image/mask pairs itself, else each sub-folder once (e.g. a single synthetic folder).
    """
    root = require_dir(static_root, 'static_root')
    missing = sorted({name for name in STATIC_MIXTURE if not (root / name).is_dir()}, key=STATIC_MIXTURE.index)
    present = [root / name for name in STATIC_MIXTURE if name not in missing]
    if present:
        if missing:
            log.warning('static mixture in %s: %d of 6 folders missing (%s), using the rest', root, len(missing),
                        ', '.join(missing))
        return present
    if list_files(root, JPEG_SUFFIXES):
        return [root]
    subs = sorted(p for p in root.iterdir() if p.is_dir())
    if not subs:
        raise DatasetError(f'{root} holds none of the folders {sorted(set(STATIC_MIXTURE))} and no images')
    log.warning('static mixture: %s holds none of the named folders; using its %d sub-folder(s) once each',
                root, len(subs))
    return subs


def concat_repeated(folders: Sequence[Path], make: Callable[[Path], Dataset]) -> ConcatDataset:
    """ConcatDataset over folders (repetitions allowed), building each distinct folder's dataset once."""
    built: dict[Path, Dataset] = {}
    for folder in folders:
        if folder not in built:
            built[folder] = make(folder)
    return ConcatDataset([built[folder] for folder in folders])


class StaticPseudoVideoDataset(Dataset):
    """3-frame pseudo-videos from single images (propagation stage 0).

    Sample keys: 'rgb' float32 [F, 3, S, S] ImageNet-normalised; 'gt' float32 [F, 1, S, S] in {0, 1};
    'cls_gt' int64 [F, S, S] in {0, 1}; 'info' {'name': image path relative to its root}. F = num_frames (3),
    S = size (384).
    """

    def __init__(self, roots: str | Path | Sequence[str | Path], size: int = 384, num_frames: int = 3,
                 tps_p: float = 0.33, seed: int | None = None):
        roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
        self.items: list[tuple[Pair, str]] = []
        for root in roots:
            root = Path(root)
            self.items += [(pair, str(pair[0].relative_to(root))) for pair in find_static_pairs(root)]
        self.size, self.num_frames, self.tps_p, self.seed = size, num_frames, tps_p, seed
        # Sequence level (shared by the frames): nearest affine for image and mask, flip, image colour.
        self.sequence_geometry = v2.Compose([
            v2.RandomAffine(degrees=0, scale=(0.8, 1.5), fill=im_mean_fill()), v2.RandomHorizontalFlip()])
        self.sequence_colour = image_jitter(0.1, 0.05, 0.05, 0.05, grayscale_p=0.05)
        # Per frame: bicubic affine (mask too, thresholded), shorter side -> size, crop, colour, TPS.
        self.frame_affine = v2.RandomAffine(degrees=20, scale=(0.9, 1.1), shear=10,
                                            interpolation=InterpolationMode.BICUBIC, fill=im_mean_fill())
        self.frame_crop = v2.Compose([
            v2.Resize(size, interpolation=InterpolationMode.BICUBIC, antialias=True),
            v2.RandomCrop(size, pad_if_needed=True, fill=im_mean_fill())])
        self.frame_colour = image_jitter(0.1, 0.05, 0.05, 0)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        (image_path, mask_path), name = self.items[index]
        rgb, mask = read_rgb(image_path), read_binary_mask(mask_path)
        check_same_size(rgb, mask, image_path, mask_path)
        rng = SampleRng.for_sample(self.seed, index)
        image, gt = rng.apply(self.sequence_geometry, to_image(rgb), to_mask(mask))
        image = rng.apply(self.sequence_colour, image)
        images, masks = [], []
        for _ in range(self.num_frames):
            frame, frame_gt = random_affine(self.frame_affine, rng, image, gt, bicubic_mask=True)
            frame, frame_gt = rng.apply(self.frame_crop, frame, frame_gt)
            frame = rng.apply(self.frame_colour, frame)
            if rng.random() < self.tps_p:
                frame, frame_gt = tps_warp(frame, frame_gt, rng)
            images.append(frame)
            masks.append(frame_gt)
        gt_frames = torch.stack([m.as_subclass(torch.Tensor) for m in masks]).float()  # [F, 1, S, S]
        return {'rgb': normalized_rgb(torch.stack(images)), 'gt': gt_frames,
                'cls_gt': gt_frames[:, 0].long(), 'info': {'name': name}}
