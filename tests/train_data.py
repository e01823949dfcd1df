"""Tiny generated training sets for the trainer tests (data.factory targets): coloured shapes on noisy ground.

Every sample is drawn from torch's global RNG, which the trainer reseeds per sample, so samples are random
but reproducible. Objects are bright discs / squares on a dark textured background: learnable in a few steps.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from util.image import normalize


def _disc(size: int, cy: float, cx: float, r: float) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing='ij')
    return (((y - cy) ** 2 + (x - cx) ** 2) <= r * r).float()  # [S, S]


def _scene(size: int, objects: list[tuple[float, float, float, torch.Tensor]]) -> tuple[torch.Tensor, list]:
    """Normalised image [3,S,S] and one mask per (cy, cx, r, colour) object, later objects on top."""
    image = 0.15 + 0.1 * torch.rand(3, size, size)
    masks = []
    for cy, cx, r, colour in objects:
        m = _disc(size, cy, cx, r)
        image = image * (1 - m) + colour.view(3, 1, 1) * m
        masks = [prev * (1 - m) for prev in masks] + [m]
    return normalize(image.clamp(0, 1)), masks


def _random_object(size: int) -> tuple[float, float, float, torch.Tensor]:
    r = size * (0.15 + 0.15 * torch.rand(()).item())
    cy, cx = (r + (size - 2 * r) * torch.rand(2)).tolist()
    return cy, cx, r, 0.6 + 0.4 * torch.rand(3)


class _Generated(Dataset):
    """`length` samples of `size` x `size` drawn from torch's RNG."""

    def __init__(self, size: int, length: int = 32):
        self.size, self.length = size, length

    def __len__(self) -> int:
        return self.length


class TinyVideos(_Generated):
    """3-frame clips of 1-2 moving discs: rgb [3,3,S,S], gt/sec_gt [3,1,S,S], cls_gt [3,S,S], selector [2]."""

    def __init__(self, size: int, length: int = 32, max_objects: int = 2):
        super().__init__(size, length)
        self.max_objects = max_objects

    def __getitem__(self, index: int) -> dict:
        s = self.size
        objs = [_random_object(s) for _ in range(1 + int(self.max_objects > 1 and torch.rand(()) < 0.5))]
        rgb, gt, sec = [], [], []
        for t in range(3):
            moved = [(cy + 2 * t, cx + 2 * t, r, c) for cy, cx, r, c in objs]
            image, masks = _scene(s, moved)
            rgb.append(image)
            gt.append(masks[0])
            sec.append(masks[1] if len(masks) > 1 else torch.zeros(s, s))
        gt, sec = torch.stack(gt).unsqueeze(1), torch.stack(sec).unsqueeze(1)  # [3, 1, S, S]
        cls_gt = (gt[:, 0] > 0.5).long() + 2 * (sec[:, 0] > 0.5).long()
        return {'rgb': torch.stack(rgb), 'gt': gt, 'sec_gt': sec, 'cls_gt': cls_gt,
                'selector': torch.tensor([1.0, float(len(objs) > 1)]), 'info': {'name': f'clip{index}'}}


class TinyInteractions(_Generated):
    """S2M samples: rgb [3,S,S], gt [1,S,S], prev (empty or shifted gt), pos / neg clicks [1,S,S]."""

    def __getitem__(self, index: int) -> dict:
        s = self.size
        cy, cx, r, colour = _random_object(s)
        image, (gt,) = _scene(s, [(cy, cx, r, colour)])
        prev = _disc(s, cy + r / 2, cx, r) if torch.rand(()) < 0.67 else torch.zeros(s, s)
        pos = _disc(s, cy, cx, 2)
        neg = _disc(s, 3, 3, 2) * (1 - gt)
        return {'rgb': image, 'gt': gt[None], 'prev': prev[None], 'pos': pos[None], 'neg': neg[None]}


class TinyFusion(_Generated):
    """Fusion samples (docs/mivos.md): two noisy propagations of 1-2 discs, reference frame and its GT."""

    def __getitem__(self, index: int) -> dict:
        s = self.size
        objs = [_random_object(s) for _ in range(1 + int(torch.rand(()) < 0.5))]
        image, masks = _scene(s, objs)
        ref_im, ref_masks = _scene(s, [(cy - 3, cx - 3, r, c) for cy, cx, r, c in objs])
        if len(masks) == 1:
            masks, ref_masks = masks + [torch.zeros(s, s)], ref_masks + [torch.zeros(s, s)]
        sample = {'rgb': image, 'src2_ref_im': ref_im, 'dist': torch.rand(2) + 0.1,
                  'selector': torch.tensor([1.0, float(len(objs) > 1)])}
        for prefix, m, ref_m in (('', masks[0], ref_masks[0]), ('sec_', masks[1], ref_masks[1])):
            noisy = lambda x: (x + 0.4 * torch.rand(s, s)).clamp(0, 1) * (torch.rand(s, s) > 0.2)  # noqa: E731
            sample.update({f'{prefix}gt': m[None], f'{prefix}seg1': noisy(m)[None], f'{prefix}seg2': noisy(m)[None],
                           f'{prefix}src2_ref': noisy(ref_m)[None], f'{prefix}src2_ref_gt': ref_m[None]})
        sample['cls_gt'] = (masks[0] > 0.5).long() + 2 * (masks[1] > 0.5).long()
        return sample


def static_videos(cfg: dict) -> Dataset:
    return TinyVideos(cfg['data']['crop'], max_objects=1)


def videos(cfg: dict) -> Dataset:
    return TinyVideos(cfg['data']['crop'])


def interactions(cfg: dict) -> Dataset:
    return TinyInteractions(cfg['data']['crop'])


def fusion(cfg: dict) -> Dataset:
    return TinyFusion(cfg['data']['crop'])


class CurriculumVideos(TinyVideos):
    """TinyVideos that records the max-skip values the trainer sets (a real VOS set changes its sampling)."""

    def __init__(self, size: int, length: int):
        super().__init__(size, length)
        self.max_skips: list[int] = []

    def set_max_skip(self, skip: int) -> None:
        self.max_skips.append(skip)


LAST_CURRICULUM: list[CurriculumVideos] = []


def few_videos(cfg: dict) -> Dataset:
    """6 clips: with 2 per batch an epoch is 3 iterations, so short runs cross epoch boundaries."""
    LAST_CURRICULUM[:] = [CurriculumVideos(cfg['data']['crop'], 6)]
    return LAST_CURRICULUM[0]


class PoisonedVideos(TinyVideos):
    """TinyVideos whose images turn NaN from the `clean`-th loaded sample on (a corrupt file, a bad transform)."""

    def __init__(self, size: int, clean: int):
        super().__init__(size, max_objects=1)
        self.loaded, self.clean = 0, clean

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        self.loaded += 1
        if self.loaded > self.clean:
            sample['rgb'] = torch.full_like(sample['rgb'], float('nan'))
        return sample


def nan_from_iteration_2(cfg: dict) -> Dataset:
    """Batches of 2: iteration 1 is clean, iteration 2 is NaN."""
    return PoisonedVideos(cfg['data']['crop'], clean=2)


class EmptyTargets(TinyVideos):
    """Every sample's target has no object pixels (masks misread as background)."""

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        for key in ('gt', 'sec_gt', 'cls_gt'):
            sample[key] = torch.zeros_like(sample[key])
        return sample


def empty_targets(cfg: dict) -> Dataset:
    return EmptyTargets(cfg['data']['crop'], max_objects=1)
