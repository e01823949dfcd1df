"""Loss and metrics shared by the trainers: bootstrapped CE over 2 or 3 classes per sample, mask IoU, image grids."""
from __future__ import annotations

import torch
import torchvision

from model.losses import BootstrappedCE, multi_object_loss
from util.image import IMAGENET_MEAN, IMAGENET_STD


def per_sample_bootstrapped_ce(criterion: BootstrappedCE, logits: torch.Tensor, cls_gt: torch.Tensor,
                               selector: torch.Tensor | None, it: int) -> tuple[torch.Tensor, float]:
    """Bootstrapped CE per sample, averaged over the batch (docs/mivos.md); logits [B,K+1,H,W], cls_gt [B,H,W].

    Two objects: model.losses.multi_object_loss (3 classes, or 2 when selector[i,1] = 0). One object (the
    single-object stage 0, selector None): the same per-sample rule on [bg, obj].
    """
    if selector is not None:
        return multi_object_loss(criterion, logits, cls_gt, selector, it)
    losses = [criterion(logits[i:i + 1], cls_gt[i:i + 1], it)[0] for i in range(logits.shape[0])]
    return torch.stack(losses).mean(), criterion.fraction(it)


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
