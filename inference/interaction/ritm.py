"""RITM's click predictor (Sofiiuk et al. 2021) as CiVOS runs it: one object on one image, clicks added one call at
a time, each prediction fed back as the previous-mask input of the next; zoom-in, horizontal-flip averaging and,
for 'f-BRS-B', feature backpropagating refinement on top of the network.

Defaults follow RITM's `get_predictor`: zoom-in (see ritm_zoom), flip, at most 8 clicks given to the network
under f-BRS (all of them drive the optimisation), no optimisation at the first click.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from inference.interaction.canvas import check_in_image
from inference.interaction.fbrs import FBRSObjective, click_squares, minimise
from inference.interaction.ritm_zoom import Box, ClickTuple, clicks_to_crop, crop_input, paste_crop, zoom_step
from model.ritm import HRNetISModel

BRS_MODES = ('NoBRS', 'f-BRS-B')
FBRS_NET_CLICKS = 8  # f-BRS: the network sees the first 8 clicks; later ones only enter the optimisation
OPTIMIZE_AFTER = 1  # f-BRS optimises from the second click on


@dataclass
class _Step:
    """Everything one prediction needs, decided before any state changes."""
    clicks: list[ClickTuple]
    x: torch.Tensor  # [2 (flip) or 1, 4, h, w] image in 0..1 and previous mask, cropped when zoomed
    lists: list[list[ClickTuple]]  # clicks in x's coordinates, one list per batch entry
    roi: Box | None  # the zoom-in box kept for later clicks
    crop: Box | None  # the zoom-in box used now
    changed: bool  # the crop differs from the previous one


class RITMPredictor:
    """Clicks -> probability map [H, W] for one object; state lives from set_input_image to the next one."""

    def __init__(self, net: HRNetISModel, brs_mode: str = 'NoBRS', prob_thresh: float = 0.49,
                 zoom_in: bool = True, with_flip: bool = True):
        if brs_mode not in BRS_MODES:
            raise ValueError(f'brs_mode must be one of {BRS_MODES}, got {brs_mode!r}')
        self.net = net.eval()
        self.brs_mode = brs_mode
        self.prob_thresh = prob_thresh
        self.zoom_in = zoom_in
        self.with_flip = with_flip
        self.net_clicks_limit = FBRS_NET_CLICKS if brs_mode == 'f-BRS-B' else None
        self._image: torch.Tensor | None = None
        self._prev: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def set_input_image(self, image: np.ndarray) -> None:
        """uint8 [H, W, 3] RGB; forgets the clicks, the previous prediction, the zoom-in box and f-BRS's state."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected a uint8 RGB image [H, W, 3], got {image.dtype} {image.shape}')
        self._image = torch.from_numpy(image).to(self.device).permute(2, 0, 1)[None].float() / 255
        self._prev = None
        self._clicks: list[ClickTuple] = []
        self._roi: Box | None = None
        self._opt_x: np.ndarray | None = None
        self._features: tuple[Box | None, torch.Tensor] | None = None  # (crop, HRNet features) of the last run

    @property
    def prev_prediction(self) -> torch.Tensor | None:
        """The previous-mask input of the next click [H, W]: the last prediction, or what the caller set (before
        the first click it is only the network's input; afterwards the zoom-in also reads it)."""
        return None if self._prev is None else self._prev[0, 0]

    @prev_prediction.setter
    def prev_prediction(self, mask: np.ndarray | torch.Tensor | None) -> None:
        size = tuple(self._require_image().shape[-2:])
        if mask is None:
            self._prev = None
            return
        mask = torch.as_tensor(mask, dtype=torch.float32, device=self.device)
        if tuple(mask.shape[-2:]) != size or mask.numel() != size[0] * size[1]:
            raise ValueError(f'prev_prediction must be a soft mask [H, W] = {list(size)}, got {list(mask.shape)}')
        self._prev = mask.reshape(1, 1, *size)

    def get_prediction(self, clicks: Sequence[tuple]) -> np.ndarray:
        """All clicks so far as (is_positive, y, x) -> float32 probabilities [H, W]; the new ones are added."""
        step = self._prepare(self._extend(clicks))
        with torch.no_grad():
            if self.brs_mode == 'NoBRS':
                logits = self.net(step.x, self._points(step.lists))['instances']
            else:
                logits = self._fbrs(step)
        probs = self._to_image(logits, step.crop)
        self._clicks, self._roi, self._prev = step.clicks, step.roi, probs
        return probs[0, 0].cpu().numpy()

    def fbrs_objective(self, clicks: Sequence[tuple], x: np.ndarray) -> tuple[float, np.ndarray]:
        """The f-BRS-B objective get_prediction(clicks) would minimise, at x = [scales (C), biases (C)]:
        (value, float64 gradient). Changes no state."""
        if self.brs_mode != 'f-BRS-B':
            raise ValueError(f"fbrs_objective needs brs_mode='f-BRS-B' (this predictor is {self.brs_mode!r})")
        step = self._prepare(self._extend(clicks))
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (2 * self.net.feature_channels,):
            raise ValueError(f'x must hold {self.net.feature_channels} scales then as many biases, got {x.shape}')
        return self._objective(step, self._head_input(step)).value_and_grad(x)

    def _require_image(self) -> torch.Tensor:
        if self._image is None:
            raise ValueError('no image: call set_input_image first')
        return self._image

    def _extend(self, clicks: Sequence[tuple]) -> list[ClickTuple]:
        """Validated click history (the clicks already given, then the new ones)."""
        image = self._require_image()
        clicks = [(bool(c[0]), float(c[1]), float(c[2])) for c in clicks]
        if not clicks:
            raise ValueError('no clicks: give at least one (is_positive, y, x) click')
        check_in_image(np.array([[x, y] for _, y, x in clicks], dtype=np.float64), tuple(image.shape[-2:]),
                       'click')
        if clicks[:len(self._clicks)] != self._clicks:
            raise ValueError(f'clicks must start with the {len(self._clicks)} clicks given so far; '
                             'call set_input_image to start over')
        return clicks

    def _prepare(self, clicks: list[ClickTuple]) -> _Step:
        """Network input (image, previous mask) and clicks after zoom-in and flip."""
        image = self._require_image()
        prev = self._prev if self._prev is not None else torch.zeros_like(image[:, :1])
        x = torch.cat([image, prev], dim=1)
        last = self._prev if self._clicks else None  # the zoom-in reads the predictor's own last prediction
        zoom = zoom_step(self._roi, None if last is None else last[0, 0], clicks) if self.zoom_in else None
        lists = [clicks]
        if zoom is not None and zoom.crop is not None:
            x, lists = crop_input(x, zoom.crop), [clicks_to_crop(clicks, zoom.crop)]
        if self.with_flip:
            w = x.shape[3]
            x = torch.cat([x, x.flip(3)])
            lists.append([(p, y, w - xc - 1) for p, y, xc in lists[0]])
        if zoom is None:
            return _Step(clicks, x, lists, None, None, False)
        return _Step(clicks, x, lists, zoom.roi, zoom.crop, zoom.changed)

    def _points(self, lists: list[list[ClickTuple]]) -> torch.Tensor:
        """Network clicks [B, 2P, 3] rows (y, x, order): positives, then negatives, padded with -1."""
        counts = [(sum(p for p, _, _ in c), sum(not p for p, _, _ in c)) for c in lists]
        n = max(max(pair) for pair in counts)  # counted before the limit, as RITM
        n = max(1, n if self.net_clicks_limit is None else min(n, self.net_clicks_limit))
        rows = []
        for clicks in lists:
            clicks = list(enumerate(clicks[:self.net_clicks_limit]))
            pos = [(y, x, float(i)) for i, (p, y, x) in clicks if p]
            neg = [(y, x, float(i)) for i, (p, y, x) in clicks if not p]
            pad = [(-1.0, -1.0, -1.0)]
            rows.append(pos + pad * (n - len(pos)) + neg + pad * (n - len(neg)))
        return torch.tensor(rows, dtype=torch.float32, device=self.device)

    def _head_input(self, step: _Step) -> torch.Tensor:
        """HRNet features of the step's input: reused from the last run when RITM would not recompute them
        (more than 8 clicks and the same crop), computed once otherwise: L-BFGS only re-runs the head."""
        cached = self._features
        if len(step.clicks) > FBRS_NET_CLICKS and not step.changed and cached is not None \
                and cached[0] == step.crop:
            return cached[1]
        with torch.no_grad():
            return self.net.backbone_features(step.x, self._points(step.lists))

    def _objective(self, step: _Step, feats: torch.Tensor) -> FBRSObjective:
        size = tuple(step.x.shape[-2:])
        batch = feats.shape[0]

        def head(scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            scale = scale.view(1, -1, 1, 1).expand(batch, -1, -1, -1)  # the same correction for the flipped copy
            bias = bias.view(1, -1, 1, 1).expand(batch, -1, -1, -1)
            return self.net.head(feats * scale + bias, size)['instances']

        pos, neg = click_squares(step.lists, size)
        return FBRSObjective(head, pos.to(self.device), neg.to(self.device), self.prob_thresh)

    def _fbrs(self, step: _Step) -> torch.Tensor:
        """f-BRS-B logits [B, 1, h, w]: the best of the L-BFGS-B evaluations, from the second click on."""
        feats = self._head_input(step)
        self._features = (step.crop, feats)
        objective = self._objective(step, feats)
        if self._opt_x is None:
            self._opt_x = np.zeros(2 * self.net.feature_channels, dtype=np.float32)
        if len(step.clicks) > OPTIMIZE_AFTER:
            self._opt_x = minimise(objective, self._opt_x)
        if objective.best_logits is not None:
            return objective.best_logits
        x = torch.from_numpy(self._opt_x).float().to(self.device)
        return objective.head(1 + x[:len(x) // 2], x[len(x) // 2:])

    def _to_image(self, logits: torch.Tensor, crop: Box | None) -> torch.Tensor:
        """Logits of the (flipped) crop -> probabilities [1, 1, H, W] of the image; flips average the logits."""
        if self.with_flip:
            logits = 0.5 * (logits[:1] + logits[1:].flip(3))
        probs = torch.sigmoid(logits)
        if crop is None:
            return probs
        return paste_crop(probs, crop, tuple(self._image.shape[-2:]))
