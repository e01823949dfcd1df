"""The seam between the MiVOS algorithm (InferenceCore) and the computation of its networks.

InferenceCore needs five network operations (MiVOS §3.3-3.4, docs/mivos.md): encode a query frame, memorise a
frame with its masks, segment a query against a memory, the attention that aligns an interaction's difference
maps to a query (for fusion), and the fusion module. A Backend prepares them for one video size; ReferenceBackend
computes them as the original code does, accel.AcceleratedBackend with transformed networks that give the same
results within float rounding (docs/golden.md).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import torch
import torch.nn as nn


class EncodedQuery(NamedTuple):
    """A query frame as a backend encoded it: its key k16 [1,Ck,h,w] (memory read, fusion attention) and the
    backend's own rest (whatever its segment needs from the frame), kept together in the per-frame cache."""
    key: torch.Tensor
    features: tuple


class PreparedNetworks(ABC):
    """The MiVOS networks as prepared for one video size: what InferenceCore runs on every frame.

    time_major_memory: the layout a propagation pass keeps its memory in (inference.pass_memory.PassMemory).
    """
    time_major_memory: bool = False

    @abstractmethod
    def encode_query(self, frame: torch.Tensor) -> EncodedQuery:
        """Query encoder and key/value projection of frame [1,3,Hp,Wp], done once per frame."""

    @abstractmethod
    def memorize(self, frame: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frame [1,3,Hp,Wp], masks [K,1,Hp,Wp] -> (keys [K,Ck,1,h,w], values [K,Cv,1,h,w])."""

    @abstractmethod
    def segment(self, keys: torch.Tensor, values: torch.Tensor, query: EncodedQuery) -> torch.Tensor:
        """Top-k memory read (MiVOS §3.3) and decoder: memory [K,C,n,h,w] -> probabilities [K,1,Hp,Wp]."""

    @abstractmethod
    def attention(self, memory_key: torch.Tensor, pos_diff: torch.Tensor, neg_diff: torch.Tensor,
                  query_key: torch.Tensor) -> torch.Tensor:
        """D+ / D- [K,1,Hp,Wp] of the interacted frame (key [K,Ck,1,h,w]) aligned to the query: [K,2,Hp,Wp]."""

    @abstractmethod
    def fuse(self, image: torch.Tensor, prev: torch.Tensor, curr: torch.Tensor, attention: torch.Tensor,
             time: torch.Tensor) -> torch.Tensor:
        """The difference-aware fusion module (MiVOS §3.4): logits [K,1,Hp,Wp]."""


class Backend(ABC):
    """Prepares the networks for each video; one backend can serve many videos (it keeps what it prepared)."""

    @abstractmethod
    def prepare(self, prop_net: nn.Module, fusion_net: nn.Module | None, padded_size: tuple[int, int],
                device: torch.device) -> PreparedNetworks:
        """The networks for frames of padded_size (Hp, Wp) on device; fusion_net None when fusion never runs."""


class ReferenceNetworks(PreparedNetworks):
    """The original's computation: the loaded networks as they are (BatchNorm unfolded, dense top-k read-out),
    the query's (f16, f8, f4, v16) kept with its key, and f8 / f4 / v16 expanded to K so that the decoder's
    query-only skip path runs once per object; memory in the original's [K, C, T, h, w] layout, fusion NCHW."""

    def __init__(self, prop_net: nn.Module, fusion_net: nn.Module | None):
        self.prop_net, self.fusion_net = prop_net, fusion_net

    def encode_query(self, frame: torch.Tensor) -> EncodedQuery:
        f16, f8, f4, k16, v16 = self.prop_net.get_query_values(frame)
        return EncodedQuery(k16, (f16, f8, f4, v16))

    def memorize(self, frame: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.prop_net.memorize(frame, masks)

    def segment(self, keys: torch.Tensor, values: torch.Tensor, query: EncodedQuery) -> torch.Tensor:
        f16, f8, f4, v16 = query.features
        f8, f4, v16 = (x.expand(keys.shape[0], -1, -1, -1) for x in (f8, f4, v16))  # decoded per object
        return self.prop_net.segment_with_query(keys, values, f16, f8, f4, query.key, v16)

    def attention(self, memory_key: torch.Tensor, pos_diff: torch.Tensor, neg_diff: torch.Tensor,
                  query_key: torch.Tensor) -> torch.Tensor:
        return self.prop_net.get_attention(memory_key, pos_diff, neg_diff, query_key)

    def fuse(self, image: torch.Tensor, prev: torch.Tensor, curr: torch.Tensor, attention: torch.Tensor,
             time: torch.Tensor) -> torch.Tensor:
        return self.fusion_net(image, prev, curr, attention, time)


class ReferenceBackend(Backend):
    """The original code's computation, for checking and for devices the accelerated backend does not help."""

    def prepare(self, prop_net: nn.Module, fusion_net: nn.Module | None, padded_size: tuple[int, int],
                device: torch.device) -> ReferenceNetworks:
        return ReferenceNetworks(prop_net, fusion_net)
