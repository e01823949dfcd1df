"""CiVOS's interaction (CiVOS paper §3): one round's clicks on one frame -> RITM per object -> one K+1 mask.

Per object, a fresh RITM predictor (as CiVOS builds one per object and round) gets the frame, the object's soft
probability at that frame from the last propagation as its previous mask (none before the first propagation),
and the object's clicks of this round (its positives, then its negatives); its soft output is kept. An object
without clicks keeps its previous mask (CiVOS would run RITM on no clicks at all). The K soft masks are combined
with aggregate_wbg_vujas (K > 1) or aggregate_wbg (K = 1), hard, background first, as CiVOS does before MiVOS's
propagation.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from inference.interaction.base import check_num_objects
from inference.interaction.ritm import RITMPredictor
from model.aggregate import aggregate_wbg, aggregate_wbg_vujas


def check_clicks(rows: np.ndarray, num_objects: int, size: tuple[int, int], what: str) -> np.ndarray:
    """Pixel click rows int [N,3] (object_id, y, x), each inside the image and for an object 1..K."""
    rows = np.asarray(rows).reshape(-1, 3)
    h, w = size
    for object_id, y, x in rows.tolist():
        if not 1 <= object_id <= num_objects:
            raise ValueError(f'{what} click for object {object_id:g}: objects are 1..{num_objects}')
        if not (0 <= y < h and 0 <= x < w):
            raise ValueError(f'{what} click at (y={y:g}, x={x:g}) is outside the {h}x{w} image')
    return rows.astype(np.int64)


class CiVOSInteraction:
    """Clicks -> RITM per object -> aggregated mask; `make_predictor()` gives a fresh RITM predictor."""

    def __init__(self, make_predictor: Callable[[], RITMPredictor]):
        self.make_predictor = make_predictor

    @classmethod
    def with_network(cls, net: torch.nn.Module, brs_mode: str = 'f-BRS-B', prob_thresh: float = 0.5) -> CiVOSInteraction:
        """CiVOS's predictor settings: f-BRS-B, threshold 0.5, RITM's default zoom-in and flip."""
        return cls(lambda: RITMPredictor(net, brs_mode=brs_mode, prob_thresh=prob_thresh, zoom_in=True,
                                         with_flip=True))

    def object_probs(self, image: np.ndarray, positives: np.ndarray, negatives: np.ndarray,
                     previous: torch.Tensor | None, num_objects: int) -> torch.Tensor:
        """uint8 image [H,W,3], pixel click rows [N,3] (object_id, y, x), previous soft masks [K,H,W] or None
        -> soft masks [K,H,W] (float32, on previous's device or the CPU)."""
        check_num_objects(num_objects)
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f'image must be uint8 [H,W,3], got {image.dtype} {image.shape}')
        size = image.shape[:2]
        positives = check_clicks(positives, num_objects, size, 'positive')
        negatives = check_clicks(negatives, num_objects, size, 'negative')
        if previous is not None and tuple(previous.shape) != (num_objects, *size):
            raise ValueError(f'previous masks must be [{num_objects},{size[0]},{size[1]}], got {tuple(previous.shape)}')
        device = previous.device if previous is not None else torch.device('cpu')
        return torch.stack([self._object_prob(image, positives, negatives, previous, k, size, device)
                            for k in range(1, num_objects + 1)])

    def _object_prob(self, image: np.ndarray, positives: np.ndarray, negatives: np.ndarray,
                     previous: torch.Tensor | None, k: int, size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """Object k's soft mask [H,W]: a fresh predictor on its clicks, or its previous mask when it has none."""
        clicks = [(True, y, x) for _, y, x in positives[positives[:, 0] == k].tolist()]
        clicks += [(False, y, x) for _, y, x in negatives[negatives[:, 0] == k].tolist()]
        if not clicks:  # nothing said about this object: it keeps its mask
            return previous[k - 1] if previous is not None else torch.zeros(size, device=device)
        return self.object_prob(image, clicks, None if previous is None else previous[k - 1])

    def object_prob(self, image: np.ndarray, clicks: Sequence[tuple[bool, float, float]],
                    previous: torch.Tensor | None) -> torch.Tensor:
        """One object's soft mask [H,W] (float32, on previous's device or the CPU): a fresh predictor on the uint8
        image [H,W,3], the object's clicks (is_positive, y, x) in the order given, and its soft mask [H,W] (or None)
        as the previous-mask input."""
        predictor = self.make_predictor()
        predictor.set_input_image(image)
        device = previous.device if previous is not None else torch.device('cpu')
        with torch.inference_mode(False):  # f-BRS needs autograd, which the caller's inference mode would forbid
            if previous is not None:
                predictor.prev_prediction = previous.clone()  # an ordinary tensor, not an inference one
            return torch.as_tensor(predictor.get_prediction(clicks), dtype=torch.float32).to(device)

    def apply(self, image: np.ndarray, positives: np.ndarray, negatives: np.ndarray, previous: torch.Tensor | None,
              num_objects: int) -> torch.Tensor:
        """The interaction's K+1 mask [K+1,1,H,W] (background first) for MiVOS's interact."""
        return combine_objects(self.object_probs(image, positives, negatives, previous, num_objects)[:, None])


def combine_objects(probs: torch.Tensor) -> torch.Tensor:
    """Soft masks of the K objects [K,1,H,W] -> CiVOS's hard K+1 mask [K+1,1,H,W] (background first)."""
    merge = aggregate_wbg if probs.shape[0] == 1 else aggregate_wbg_vujas
    return merge(probs, keep_bg=True, hard=True)
