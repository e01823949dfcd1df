"""The interface shared by all interactions, and the S2M runner they use.

An interaction turns (image, current labels) into a new K+1-channel mask (background first) for one frame.
Network-based interactions (scribbles, GUI strokes, clicks) only encode positive/negative maps per object;
`MapInteraction.apply` then runs any S2M-like network ([B, 6, H, W] -> logits) once per object and
aggregates hard (MiVOS §3.2, docs/mivos.md).
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn as nn

from inference.interaction.canvas import CanvasView
from model.aggregate import aggregate_sbg, aggregate_wbg
from util.tensor_util import one_hot

LOG = logging.getLogger(__name__)


def check_num_objects(num_objects: int) -> None:
    """Interactions need at least one object to talk about."""
    if not isinstance(num_objects, int) or num_objects < 1:
        raise ValueError(f'num_objects must be an int >= 1, got {num_objects!r}')


def check_object_id(object_id: int, num_objects: int, what: str, background: bool = True) -> None:
    """Object ids are 1..K, plus 0 for background where allowed."""
    low = 0 if background else 1
    if not isinstance(object_id, (int, np.integer)) or not low <= object_id <= num_objects:
        raise ValueError(f'{what}: object_id {object_id!r} must be in {low}..{num_objects}')


def check_image(image: torch.Tensor) -> tuple[int, int]:
    """Validate a normalised image [1, 3, H, W]; return (H, W)."""
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f'image must be a normalised [1, 3, H, W] tensor, got {tuple(image.shape)}')
    return image.shape[-2], image.shape[-1]


def as_label_map(labels: torch.Tensor, num_objects: int, size: tuple[int, int]) -> torch.Tensor:
    """Current labels as a long [H, W] map 0..K; accepts [H, W] labels or a [K+1, 1, H, W] mask (argmax)."""
    labels = torch.as_tensor(labels)
    if labels.dim() == 4:
        if labels.shape[:2] != (num_objects + 1, 1):
            raise ValueError(f'mask must be [K+1={num_objects + 1}, 1, H, W], got {tuple(labels.shape)}')
        labels = labels[:, 0].argmax(0)
    if tuple(labels.shape) != tuple(size):
        raise ValueError(f'labels of shape {tuple(labels.shape)} do not match the image size {tuple(size)}')
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() > num_objects):
        raise ValueError(f'labels must lie in 0..{num_objects}, found {labels.min().item()}..{labels.max().item()}')
    return labels


def object_maps(labels: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Per-object S2M input maps [K, 3, H, W] = [previous hard mask of object k, positive, negative]."""
    prev = one_hot(labels, pos.shape[0])[1:].to(pos)  # [K, 1, H, W]
    return torch.cat([prev, pos, neg], dim=1)


@torch.no_grad()
def segment_objects(net: nn.Module, image: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Run the network once per object on [image, maps[k]] -> object probabilities [K, 1, H, W]."""
    probs = [torch.sigmoid(net(torch.cat([image, maps[k:k + 1].to(image)], dim=1))) for k in range(maps.shape[0])]
    return torch.cat(probs, dim=0)


class Interaction(ABC):
    """One user action on one frame."""

    @abstractmethod
    def apply(self, image: torch.Tensor, labels: torch.Tensor, num_objects: int) -> torch.Tensor:
        """Normalised image [1, 3, H, W] + current labels ([H, W] or [K+1, 1, H, W]) -> mask [K+1, 1, H, W]."""


class MapInteraction(Interaction):
    """Interaction encoded as positive/negative maps per object and resolved by an S2M-like network."""

    def __init__(self, net: nn.Module, soft_background: bool = False):
        self.net = net
        self.soft_background = soft_background  # aggregate_sbg (GUI click/crop style) instead of aggregate_wbg

    @abstractmethod
    def encode(self, view: CanvasView, num_objects: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw the interaction through `view`: (positive, negative) float maps [K, 1, *view.canvas_size]."""

    def aggregate(self, probs: torch.Tensor) -> torch.Tensor:
        """Object probabilities [K, 1, H, W] -> hard K+1 mask (background first)."""
        merge = aggregate_sbg if self.soft_background else aggregate_wbg
        return merge(probs, keep_bg=True, hard=True)

    def apply(self, image: torch.Tensor, labels: torch.Tensor, num_objects: int) -> torch.Tensor:
        check_num_objects(num_objects)
        size = check_image(image)
        labels = as_label_map(labels, num_objects, size).to(image.device)
        pos, neg = self.encode(CanvasView.identity(*size), num_objects)
        if not (pos.any() or neg.any()):
            LOG.info('%s left nothing on the canvas: labels unchanged', type(self).__name__)
            return one_hot(labels, num_objects)
        probs = segment_objects(self.net, image, object_maps(labels, pos.to(image.device), neg.to(image.device)))
        return self.aggregate(probs)
