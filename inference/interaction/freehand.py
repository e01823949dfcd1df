"""Free-hand painting (MiVOS GUI "free drawing"): the painted mask replaces one object, no network involved."""
from __future__ import annotations

import torch

from inference.interaction.base import Interaction, as_label_map, check_image, check_num_objects, check_object_id
from model.aggregate import aggregate_sbg
from util.tensor_util import one_hot


class FreehandInteraction(Interaction):
    """Object `object_id` becomes `painted` ([H, W] in [0, 1]); other objects give way where it is painted.

    Objects are combined with aggregate_sbg (constant background 0.5), as the GUI does (docs/mivos.md):
    pixels that lose object k and belong to no other object fall back to background.
    """

    def __init__(self, object_id: int, painted: torch.Tensor):
        self.object_id = object_id
        self.painted = torch.as_tensor(painted).float()
        if self.painted.dim() != 2:
            raise ValueError(f'painted mask must be [H, W], got {tuple(self.painted.shape)}')
        if self.painted.numel() and (self.painted.min() < 0 or self.painted.max() > 1):
            raise ValueError('painted mask values must lie in [0, 1]')

    def apply(self, image: torch.Tensor, labels: torch.Tensor, num_objects: int) -> torch.Tensor:
        check_num_objects(num_objects)
        check_object_id(self.object_id, num_objects, 'free-hand mask', background=False)
        size = check_image(image)
        if tuple(self.painted.shape) != tuple(size):
            raise ValueError(f'painted mask {tuple(self.painted.shape)} does not match the image size {tuple(size)}')
        labels = as_label_map(labels, num_objects, size).to(image.device)
        painted = self.painted.to(image.device)
        probs = one_hot(labels, num_objects)[1:] * (1 - painted)  # [K, 1, H, W]: others give way
        probs[self.object_id - 1, 0] = painted
        return aggregate_sbg(probs, keep_bg=True)
