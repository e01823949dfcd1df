"""The DAVIS interactive-robot adapter (docs/davis_protocol.md): scribbles -> S2M -> InferenceCore, 3-frame policy."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch

from inference.core import FusionMode, InferenceCore
from inference.interaction.scribbles import annotated_frame, scribbles_to_mask

Policy = Literal['three-frame', 'every-round']
DAVIS_SCHEDULE = (2, 5, 7)  # 0-based interaction counts after which MiVOS propagates (8 interactions)


class DAVISProcessor:
    """One DAVIS sample: turns each robot answer into masks and decides whether to propagate.

    'three-frame' (MiVOS): interactions 0-1 refine frame A without propagating, 2 propagates; 3-4 / 5 on frame B;
    6 / 7 on frame C. Between propagations the robot is asked for the same frame again ([idx]); after a propagation
    it picks the worst frame (None). Past the schedule every interaction propagates (the original crashes there).
    'every-round' propagates after every interaction.
    """

    def __init__(self, prop_net: torch.nn.Module, fusion_net: torch.nn.Module | None, s2m_net: torch.nn.Module,
                 images: torch.Tensor | np.ndarray, num_objects: int, device: str | torch.device = 'cpu',
                 mem_freq: int = 5, fusion: FusionMode = 'diff-aware', policy: Policy = 'three-frame',
                 schedule: Sequence[int] = DAVIS_SCHEDULE, quirk: bool = True, **core_options):
        if policy not in ('three-frame', 'every-round'):
            raise ValueError(f"policy must be 'three-frame' or 'every-round', got {policy!r}")
        self.core = InferenceCore(prop_net, fusion_net, images, num_objects, mem_freq=mem_freq, device=device,
                                  fusion=fusion, **core_options)
        self.s2m_net = s2m_net
        self.policy = policy
        self.schedule = list(schedule)
        self.quirk = quirk
        self.interacted_count = 0

    @property
    def num_objects(self) -> int:
        return self.core.k

    def to_mask(self, scribble: Mapping) -> tuple[torch.Tensor, int]:
        """S2M on the annotated frame of a davisinteractive scribble dict -> (hard mask [K+1,1,Hp,Wp], frame)."""
        idx = annotated_frame(scribble)
        if idx >= self.core.t:
            raise ValueError(f'scribbles are on frame {idx} but the video has {self.core.t} frames')
        labels = torch.from_numpy(self.core.labels(idx, padded=True).astype(np.int64))
        mask = scribbles_to_mask(self.s2m_net, self.core.frame(idx), labels, scribble, self.core.k,
                                 pad=self.core.pad, quirk=self.quirk, frame=idx)
        return mask, idx

    def should_propagate(self) -> bool:
        """Policy decision for the current interaction (consumes the schedule)."""
        if self.policy == 'every-round':
            return True
        if not self.schedule:
            return True
        if self.interacted_count == self.schedule[0]:
            self.schedule.pop(0)
            return True
        return False

    def interact_mask(self, mask: torch.Tensor, idx: int) -> tuple[np.ndarray, list[int] | None, int]:
        """Apply an interaction mask [K+1,1,H(p),W(p)] on frame idx under the policy -> (labels [T,H,W], hint, idx)."""
        if self.should_propagate():
            out, hint = self.core.interact(mask, idx), None
        else:
            out, hint = self.core.update_mask_only(mask, idx), [idx]
        self.interacted_count += 1
        return out.copy(), hint, idx

    def interact(self, scribble: Mapping) -> tuple[np.ndarray, list[int] | None, int]:
        """One robot round: (labels uint8 [T,H,W], next-frame hint for submit_masks, annotated frame)."""
        mask, idx = self.to_mask(scribble)
        return self.interact_mask(mask, idx)
