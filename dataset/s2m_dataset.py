"""S2M (scribble-to-mask) training samples (docs/mivos.md): image, GT, a synthetic previous mask and interactions.

The 6-channel S2M input is cat(rgb, prev, pos, neg). Interactions are scribbles (the original), clicks (CiVOS
style, positive/negative disks at the innermost point of each error region) or a 50/50 mix per sample.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode, v2

from dataset.lvis import LvisImage, load_lvis, rasterize
from dataset.mask_perturbation import perturb_mask, previous_mask
from dataset.rng import SampleRng
from dataset.scribble_synthesis import CLICK_RADIUS, synthesize_clicks, synthesize_scribbles
from dataset.static_dataset import concat_repeated, find_static_pairs, static_mixture_folders
from dataset.transforms import im_mean_fill, image_jitter, normalized_rgb, to_image
from util.image_io import IMAGE_SUFFIXES, DatasetError, check_same_size, list_files, read_binary_mask, read_rgb, \
    require_dir

log = logging.getLogger(__name__)

INTERACTIONS = ('scribbles', 'clicks', 'mixed')
LVIS_MIN_AREA = 50 * 50  # target instances
LVIS_OTHER_MIN_AREA = 30 * 30  # other instances used as distractors
OTHER_INSTANCE_P = 0.75


def _as_channel(mask: np.ndarray) -> torch.Tensor:
    """bool [S, S] -> float32 [1, S, S]."""
    return torch.from_numpy(mask).float().unsqueeze(0)


class S2MDataset(Dataset):
    """S2M samples from static image folders (flat or FSS layout) or from LVIS (`lvis_root`).

    Sample keys (S = size, 480): 'rgb' float32 [3, S, S] normalised; 'gt', 'prev', 'pos', 'neg' float32
    [1, S, S] in {0, 1}; 'cls_gt' int64 [S, S] in {0, 1}; 'info' {'name', 'interaction': 'scribbles'|'clicks',
    'from_zero': bool}. Give exactly one of static_roots / lvis_root.
    """

    def __init__(self, static_roots: str | Path | Sequence[str | Path] | None = None,
                 lvis_root: str | Path | None = None, size: int = 480, interaction: str = 'scribbles',
                 click_radius: int = CLICK_RADIUS, seed: int | None = None):
        if (static_roots is None) == (lvis_root is None):
            raise ValueError('give exactly one of static_roots and lvis_root')
        if interaction not in INTERACTIONS:
            raise ValueError(f'interaction must be one of {INTERACTIONS}, got {interaction!r}')
        self.size, self.interaction, self.click_radius, self.seed = size, interaction, click_radius, seed
        self.is_lvis = lvis_root is not None
        if self.is_lvis:
            self.lvis_images, self.image_root = self._index_lvis(Path(lvis_root))
            scale = (0.8, 1.0)
        else:
            roots = [static_roots] if isinstance(static_roots, (str, Path)) else list(static_roots)
            self.pairs = [pair for root in roots for pair in find_static_pairs(root)]
            scale = (0.8, 1.25)
        self.geometry = v2.Compose([
            v2.RandomAffine(degrees=20, scale=scale, shear=10, interpolation=InterpolationMode.BILINEAR,
                            fill=im_mean_fill()),
            v2.Resize(size, antialias=True),
            v2.RandomCrop(size, pad_if_needed=True, fill=im_mean_fill()),
            v2.RandomHorizontalFlip()])
        self.colour = image_jitter(0.1, 0.03, 0.03, 0, grayscale_p=0.05)

    @staticmethod
    def _index_lvis(root: Path) -> tuple[list[LvisImage], Path]:
        """LVIS images having a target instance (area >= 50x50) and an image file in train2017/."""
        image_root = require_dir(root / 'train2017', 'LVIS image')
        present = {p.name for p in list_files(image_root, IMAGE_SUFFIXES)}
        images = [im for im in load_lvis(root / 'lvis_v1_train.json')
                  if any(inst.area >= LVIS_MIN_AREA for inst in im.instances)]
        missing = [im.file_name for im in images if im.file_name not in present]
        if missing:
            log.warning('LVIS: skipped %d images missing from %s (e.g. %s)', len(missing), image_root, missing[:3])
        images = [im for im in images if im.file_name in present]
        if not images:
            raise DatasetError(f'no LVIS image with an instance of >= 50x50 px found under {root}')
        return images, image_root

    def __len__(self) -> int:
        return len(self.lvis_images) if self.is_lvis else len(self.pairs)

    def _load(self, index: int, rng: SampleRng) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
        """(image, target mask, another instance's mask or None, name)."""
        if not self.is_lvis:
            image_path, mask_path = self.pairs[index]
            rgb, gt = read_rgb(image_path), read_binary_mask(mask_path)
            check_same_size(rgb, gt, image_path, mask_path)
            return rgb, gt, None, image_path.name
        entry = self.lvis_images[index]
        path = self.image_root / entry.file_name
        rgb = read_rgb(path)
        if rgb.shape[:2] != (entry.height, entry.width):
            raise DatasetError(f'{path} is {rgb.shape[1]}x{rgb.shape[0]} but the LVIS json says '
                               f'{entry.width}x{entry.height}; the image does not belong to this annotation file')
        targets = [i for i in entry.instances if i.area >= LVIS_MIN_AREA]
        target = rng.choice(targets)
        others = [i for i in entry.instances if i is not target and i.area >= LVIS_OTHER_MIN_AREA]
        other = rasterize(rng.choice(others), entry.height, entry.width) if others else None
        return rgb, rasterize(target, entry.height, entry.width), other, entry.file_name

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = SampleRng.for_sample(self.seed, index)
        rgb, gt, other, name = self._load(index, rng)
        masks = np.stack([gt, other if other is not None else np.zeros_like(gt)]).astype(np.uint8)  # [2, H, W]
        image, masks = rng.apply(self.geometry, to_image(rgb), tv_tensors.Mask(torch.from_numpy(masks)))
        image = rng.apply(self.colour, image)
        gt, other_gt = (masks.as_subclass(torch.Tensor).numpy() > 0)
        prev, from_zero = previous_mask(gt, rng.np)
        extra_neg = np.zeros_like(gt)
        if other is not None and not from_zero and other_gt.any() and rng.random() < OTHER_INSTANCE_P:
            # Distractor: the other instance's first scribbles become negatives, or its perturbed mask joins prev.
            if rng.random() < 0.5:
                extra_neg = synthesize_scribbles(other_gt, np.zeros_like(gt), True, rng.np)[0] & ~gt
            else:
                prev = prev | perturb_mask(other_gt, rng.np.uniform(0.4, 0.95), rng.np)
        kind = self.interaction if self.interaction != 'mixed' else rng.choice(('scribbles', 'clicks'))
        if kind == 'scribbles':
            pos, neg = synthesize_scribbles(gt, prev, from_zero, rng.np)
        else:
            pos, neg = synthesize_clicks(gt, prev, radius=self.click_radius)
        neg = neg | extra_neg
        return {'rgb': normalized_rgb(image), 'gt': _as_channel(gt), 'prev': _as_channel(prev),
                'pos': _as_channel(pos), 'neg': _as_channel(neg), 'cls_gt': torch.from_numpy(gt).long(),
                'info': {'name': name, 'interaction': kind, 'from_zero': from_zero}}


def build_s2m_mixture(static_root: str | Path, lvis_root: str | Path | None = None,
                      **kwargs: Any) -> ConcatDataset:
    """S2M data: concat([static mixture] x 2 + [LVIS]) (docs/mivos.md); LVIS left out if lvis_root is None."""
    folders = static_mixture_folders(static_root) * 2
    mixture = concat_repeated(folders, lambda folder: S2MDataset(static_roots=folder, **kwargs))
    if lvis_root is None:
        log.warning('S2M mixture without LVIS (no lvis_root given)')
        return mixture
    return ConcatDataset([mixture, S2MDataset(lvis_root=lvis_root, **kwargs)])
