"""The accelerated backend: the MiVOS networks transformed for inference, behind inference.backend's interface.

Same results as the reference within float rounding (docs/golden.md): BatchNorm folded into the convs, the
decoder's query-only work done once per frame instead of once per object (accel.split_decoder), the top-k memory
read gathered instead of multiplying a mostly zero dense matrix, Winograd 3x3 convs where they time faster
(accel.winograd, accel.timing), and on the CPU the encoders and the fusion network as oneDNN primitives with
fused ReLU / residual add (accel.onednn).
"""
from __future__ import annotations

import weakref
from pathlib import Path

import torch
import torch.nn as nn

from accel.onednn import PackedFusionNet, onednn_available
from accel.optimize import CONV_ALGORITHMS, ConvAlgorithm, InferenceNetwork, optimize_for_inference
from accel.timing import ConvTimings, default_path
from inference.backend import Backend, EncodedQuery, PreparedNetworks
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from model.propagation.memory import MemoryReader


class AcceleratedNetworks(PreparedNetworks):
    """The transformed networks of one video size. Memory is kept time-major, so that a read needs no copy;
    the query's decoder work (accel.split_decoder.DecoderQuery) is what the per-frame cache keeps."""
    time_major_memory = True

    def __init__(self, fast: InferenceNetwork, fusion_net: nn.Module | None, top_k: int | None,
                 channels_last: bool):
        self.net, self.decoder = fast.net, fast.decoder
        self.reader = MemoryReader(top_k, gathered=True)
        self.fusion_net, self.channels_last = fusion_net, channels_last

    def encode_query(self, frame: torch.Tensor) -> EncodedQuery:
        _, f8, f4, k16, v16 = self.net.get_query_values(frame)
        return EncodedQuery(k16, self.decoder.query_parts(v16, f8, f4))

    def memorize(self, frame: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.memorize(frame, masks)

    def segment(self, keys: torch.Tensor, values: torch.Tensor, query: EncodedQuery) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.reader(keys, values, query.key), query.features))

    def attention(self, memory_key: torch.Tensor, pos_diff: torch.Tensor, neg_diff: torch.Tensor,
                  query_key: torch.Tensor) -> torch.Tensor:
        return self.net.get_attention(memory_key, pos_diff, neg_diff, query_key)

    def fuse(self, image: torch.Tensor, prev: torch.Tensor, curr: torch.Tensor, attention: torch.Tensor,
             time: torch.Tensor) -> torch.Tensor:
        inputs = (image, prev, curr, attention)
        if self.channels_last:  # the fusion net's full-resolution 3x3 convs run faster channels-last on the CPU
            inputs = tuple(x.contiguous(memory_format=torch.channels_last) for x in inputs)
        return self.fusion_net(*inputs, time)


def _tensor_version(t: torch.Tensor) -> int | tuple[int, float]:
    """t's version counter; inference tensors (created under torch.inference_mode) have none, so their storage
    address and sum stand in for it."""
    if t.is_inference():
        with torch.inference_mode():
            return t.data_ptr(), float(t.double().sum())
    return t._version


def _weights_key(net: nn.Module) -> tuple:
    """Mode and tensor versions of net: changes when any parameter / buffer is modified in place."""
    return net.training, tuple(_tensor_version(t) for t in [*net.parameters(), *net.buffers()])


class AcceleratedBackend(Backend):
    """Prepares transformed networks and keeps the latest one, so that consecutive videos of one size share it
    (transforming the weights is costly), with the conv timing choices of `timings`.

    conv_algorithm: 'auto' runs the large 3x3 convs with Winograd F(4x4,3x3) where a timing at the video's size
    finds it faster (CPU), 'winograd' always, 'direct' never. timings: the ConvTimings to use, or the JSON file that
    keeps them for later processes (None: the per-user file, accel.timing.default_path; ConvTimings() keeps them in
    memory only). channels_last: run the fusion network channels-last (None = on the CPU, where it is faster).
    Give one backend to every InferenceCore of a run; it is not meant to be shared between threads.
    """

    def __init__(self, conv_algorithm: ConvAlgorithm = 'auto', timings: ConvTimings | str | Path | None = None,
                 channels_last: bool | None = None):
        if conv_algorithm not in CONV_ALGORITHMS:
            raise ValueError(f'conv_algorithm must be one of {CONV_ALGORITHMS}, got {conv_algorithm!r}')
        self.conv_algorithm, self.channels_last = conv_algorithm, channels_last
        self.timings = timings if isinstance(timings, ConvTimings) else ConvTimings(timings or default_path())
        self._latest: tuple[weakref.ref, tuple, InferenceNetwork] | None = None

    def network(self, prop_net: PropagationNetwork, padded_size: tuple[int, int]) -> InferenceNetwork:
        """The transformed propagation network for frames of padded_size: the kept one while prop_net, its
        weights, the size and the thread count are unchanged, otherwise a new one (which replaces it)."""
        key = (_weights_key(prop_net), tuple(padded_size), torch.get_num_threads())
        if self._latest is not None and self._latest[0]() is prop_net and self._latest[1] == key:
            return self._latest[2]
        fast = optimize_for_inference(prop_net, padded_size, self.conv_algorithm, self.timings)
        self._latest = (weakref.ref(prop_net), key, fast)
        return fast

    def prepare(self, prop_net: PropagationNetwork, fusion_net: nn.Module | None, padded_size: tuple[int, int],
                device: torch.device) -> AcceleratedNetworks:
        if fusion_net is not None and type(fusion_net) is FusionNet and onednn_available(device):
            fusion_net = PackedFusionNet(fusion_net, (1, 9, *padded_size))
        channels_last = device.type == 'cpu' if self.channels_last is None else self.channels_last
        return AcceleratedNetworks(self.network(prop_net, padded_size), fusion_net, prop_net.memory.top_k,
                                   channels_last)
