"""Image normalisation shared by every network (ImageNet statistics, RGB order)."""
from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Fill colour of affine / crop augmentations (uint8 RGB of the ImageNet mean).
IM_MEAN_U8 = (124, 116, 104)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Normalise float RGB in [0,1], channels at dim -3, with the ImageNet mean/std."""
    mean = images.new_tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(3, 1, 1)
    return (images - mean) / std


def normalize_u8(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 frames [..., H, W, 3] -> normalised float32 [..., 3, H, W]."""
    t = torch.as_tensor(frames)
    if t.dtype != torch.uint8 or t.shape[-1] != 3:
        raise ValueError(f'expected uint8 RGB frames [..., H, W, 3], got {t.dtype} {tuple(t.shape)}')
    t = t.movedim(-1, -3).float() / 255
    return normalize(t)
