"""Loss and metrics shared by the trainers: bootstrapped CE over 2 or 3 classes per sample, mask IoU, image grids."""
from __future__ import annotations

import torch
import torchvision

from util.image import IMAGENET_MEAN, IMAGENET_STD


def per_sample_bootstrapped_ce(criterion, logits: torch.Tensor, cls_gt: torch.Tensor, selector: torch.Tensor | None,
                               it: int) -> tuple[torch.Tensor, float]:
    """Mean over the batch of criterion(logits_i, cls_gt_i, it) (facts §e0).

    logits [B,K+1,H,W] from aggregate_wbg_channel, cls_gt [B,H,W]; a sample uses its 3-class logits
    [bg, obj1, obj2] when it has a second object (selector[i,1] > 0.5), else only [bg, obj1].
    """
    losses, p = [], 1.0
    for i in range(logits.shape[0]):
        classes = 3 if selector is not None and selector[i, 1] > 0.5 else 2
        loss, p = criterion(logits[i:i + 1, :classes], cls_gt[i:i + 1], it)
        losses.append(loss)
    return torch.stack(losses).mean(), float(p)


def mask_iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """IoU of two boolean masks pooled over all their pixels (1 when both are empty)."""
    inter = (pred & gt).sum().float()
    union = (pred | gt).sum().float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def denormalize(images: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised [N,3,H,W] -> RGB in [0,1]."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images * std + mean).clamp(0, 1)


def image_grid(images: torch.Tensor, masks: list[torch.Tensor], max_rows: int = 4) -> torch.Tensor:
    """One row per sample: the image, then each [N,1,H,W] mask in [0,1] as grey -> [3,H',W'] grid."""
    n = min(images.shape[0], max_rows)
    tiles = []
    for i in range(n):
        tiles.append(denormalize(images[i:i + 1].float())[0])
        tiles.extend(m[i].float().clamp(0, 1).expand(3, -1, -1) for m in masks)
    return torchvision.utils.make_grid(torch.stack(tiles).cpu(), nrow=1 + len(masks), padding=2)
