"""InferenceCore: the interact -> propagate -> fuse loop of MiVOS (§3.3-3.4, docs/mivos.md) and its test-time state.

The networks run behind inference.backend's interface: the accelerated backend (accel) by default, the original
code's computation with ReferenceBackend.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from inference.backend import Backend, EncodedQuery, ReferenceBackend
from inference.feature_cache import LRUCache
from inference.pass_memory import PassMemory
from inference.prob_store import ProbStorage, ProbStore
from model.aggregate import aggregate_wbg
from util.image import normalize_u8
from util.image_io import FrameSource
from util.tensor_util import label_map, pad_divide_by, padding_for, unpad

log = logging.getLogger(__name__)

FusionMode = Literal['diff-aware', 'linear', 'none']
FUSION_MODES = ('diff-aware', 'linear', 'none')
DEFAULT_FEATURE_CACHE_BYTES = 256 * 2**20  # ~23 frames at 240x432, ~6 at 480p with the accelerated backend
ORIGINAL_FEATURE_CACHE_FRAMES = 105  # the original's query-feature cache (mem_profile 0/1)


def backend_from_options(optimize: bool | None = None, conv_algorithm: str | None = None,
                         channels_last: bool | None = None) -> Backend:
    """The backend the earlier keyword arguments chose: optimize=False -> ReferenceBackend(), otherwise an
    AcceleratedBackend with the given conv_algorithm / channels_last."""
    if optimize is False:
        if conv_algorithm is not None or channels_last is not None:
            raise ValueError('conv_algorithm / channels_last choose how the accelerated backend runs: '
                             'not with optimize=False')
        return ReferenceBackend()
    from accel import AcceleratedBackend  # here: accel imports inference.backend, so not at module level
    return AcceleratedBackend(conv_algorithm or 'auto', channels_last=channels_last)


class InferenceCore:
    """Interactive segmentation state of one video: probabilities, interaction memory and cached query features.

    images: normalised float [1,T,3,H,W] or [T,3,H,W] (the original API), uint8 RGB [T,H,W,3] (normalised on
    use), or a util.image_io.FrameSource (frames stay on disk and are decoded when needed).
    Images stay where they are given (e.g. the CPU); one frame at a time is moved to `device`.
    fusion: 'diff-aware' (MiVOS), 'linear' (the paper's ablation: blend by temporal distance) or 'none'.
    feature_cache_size / feature_cache_bytes: limits of the per-frame query-feature cache (frames / bytes, None =
    none); the default 256 MiB keeps memory flat in T (the original kept up to 105 frames); a frame that is not
    cached is encoded again.
    prob_storage: how `prob` is kept (inference.prob_store): 'float32' (the original), 'uint16' (fixed point,
    |error| <= 7.6e-6, half the memory) or 'disk' (uint16 in a temporary file: memory independent of T; the
    default). `prob` reads as float32 [K+1,T,1,Hp,Wp] (built on each access unless stored as float32);
    `prob_frame(ti)` reads one frame.
    backend: how the networks are computed (inference.backend): an accel.AcceleratedBackend by default, or
    ReferenceBackend() for the original's computation. Give one backend to all cores of a run: it keeps the
    prepared networks and the conv timings. optimize / conv_algorithm / channels_last: the earlier way to choose
    it, still accepted (see backend_from_options; optimize=False also keeps prob in float32 as before).
    """

    def __init__(self, prop_net: torch.nn.Module, fusion_net: torch.nn.Module | None,
                 images: torch.Tensor | np.ndarray | FrameSource,
                 num_objects: int, mem_freq: int = 5, device: str | torch.device = 'cpu',
                 fusion: FusionMode = 'diff-aware', feature_cache_size: int | None = None, *,
                 feature_cache_bytes: int | None = DEFAULT_FEATURE_CACHE_BYTES, prob_storage: ProbStorage | None = None,
                 backend: Backend | None = None, optimize: bool | None = None, conv_algorithm: str | None = None,
                 channels_last: bool | None = None):
        if num_objects < 1:
            raise ValueError(f'num_objects must be >= 1, got {num_objects}')
        if mem_freq < 1:
            raise ValueError(f'mem_freq must be >= 1, got {mem_freq}')
        if fusion not in FUSION_MODES:
            raise ValueError(f'fusion must be one of {FUSION_MODES}, got {fusion!r}')
        if fusion == 'diff-aware' and fusion_net is None:
            raise ValueError("fusion='diff-aware' needs a fusion_net (or pass fusion='none' / 'linear')")
        if backend is not None and (optimize, conv_algorithm, channels_last) != (None, None, None):
            raise ValueError('give either a backend or optimize / conv_algorithm / channels_last, not both')
        self.prop_net, self.fusion_net = prop_net, fusion_net
        self.images = self._check_images(images)
        self.k, self.mem_freq, self.fusion = num_objects, mem_freq, fusion
        self.device = torch.device(device)
        self.t = self.images.shape[0]
        self.h, self.w = (self.images.shape[1:3] if self._u8 else self.images.shape[-2:])
        self.pad = padding_for(self.h, self.w)
        hp, wp = self.h + self.pad[2] + self.pad[3], self.w + self.pad[0] + self.pad[1]
        self.backend = backend or backend_from_options(optimize, conv_algorithm, channels_last)
        self.networks = self.backend.prepare(prop_net, fusion_net if fusion == 'diff-aware' else None, (hp, wp),
                                             self.device)

        # probabilities [K+1, T, 1, Hp, Wp], background first; untouched frames argmax to background.
        storage = prob_storage or ('float32' if optimize is False else 'disk')
        self.prob_store = ProbStore(self.k + 1, self.t, hp, wp, storage, self.device)
        self.padded_labels = np.zeros((self.t, hp, wp), dtype=np.uint8)  # argmax labels (the original's `masks`)
        self.interacted: set[int] = set()
        self.certain_k: torch.Tensor | None = None  # [K, Ck, n_interactions, h, w]
        self.certain_v: torch.Tensor | None = None
        self.pos_diff = self.neg_diff = None  # D+ / D- of the latest interaction, [K+1, 1, Hp, Wp]
        self.query_cache: LRUCache[EncodedQuery] = LRUCache(feature_cache_size, feature_cache_bytes)
        self.on_frame: Callable[[int], None] | None = None  # progress hook, called after each propagated frame

    def _check_images(self, images: torch.Tensor | np.ndarray | FrameSource) -> torch.Tensor | FrameSource:
        if isinstance(images, FrameSource):
            self._u8 = True
            return images
        images = torch.as_tensor(images)
        self._u8 = images.dtype == torch.uint8
        if self._u8:
            if images.dim() != 4 or images.shape[-1] != 3:
                raise ValueError(f'uint8 images must be [T,H,W,3] RGB, got {tuple(images.shape)}')
            return images
        if images.dim() == 5 and images.shape[0] == 1:
            images = images[0]
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'float images must be normalised [1,T,3,H,W] or [T,3,H,W], got {tuple(images.shape)}')
        finite = torch.isfinite(images).flatten(1).all(1)  # [T]
        if not finite.all():
            bad = torch.nonzero(~finite).flatten().tolist()
            raise ValueError(f'the images hold NaN or inf values (frame {bad[0]}' + (f' and {len(bad) - 1} more'
                             if len(bad) > 1 else '') + '); give finite normalised images or uint8 RGB frames')
        return images

    # -- per-frame inputs ------------------------------------------------------------------------------------
    def frame(self, ti: int) -> torch.Tensor:
        """Normalised, padded frame ti on the device: [1,3,Hp,Wp]."""
        x = torch.as_tensor(self.images[ti])
        x = normalize_u8(x.to(self.device)) if self._u8 else x.to(self.device, torch.float32)
        return pad_divide_by(x.unsqueeze(0))[0]

    def query(self, ti: int) -> EncodedQuery:
        """Frame ti encoded as a query, once per frame while the cache keeps it."""
        return self.query_cache.get(ti, lambda: self.networks.encode_query(self.frame(ti)))

    @property
    def prob(self) -> torch.Tensor:
        """Probabilities of every frame, float32 [K+1,T,1,Hp,Wp] (the stored tensor with prob_storage='float32',
        otherwise a new one: use prob_frame(ti) to read single frames without materialising all T)."""
        return self.prob_store.dense()

    def prob_frame(self, ti: int) -> torch.Tensor:
        """Probabilities of frame ti, float32 [K+1,1,Hp,Wp] on the device."""
        return self.prob_store[ti]

    def _set_prob(self, ti: int, prob: torch.Tensor) -> None:
        """Store frame ti's probabilities and its argmax labels (taken from the exact float values)."""
        self.prob_store[ti] = prob
        self.padded_labels[ti] = label_map(prob)[0].cpu().numpy()  # [Hp, Wp]

    def pad_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """[K+1,1,H,W] mask (or one already padded to [K+1,1,Hp,Wp]) -> padded, float32, on the device."""
        hp, wp = self.prob_store.shape[-2:]
        if mask.shape[0] != self.k + 1 or tuple(mask.shape[-2:]) not in ((self.h, self.w), (hp, wp)):
            raise ValueError(f'mask must be [{self.k + 1},1,{self.h},{self.w}] (background first) or padded to '
                             f'[{self.k + 1},1,{hp},{wp}], got {tuple(mask.shape)}')
        mask = mask.to(self.device, torch.float32).view(self.k + 1, 1, *mask.shape[-2:])
        if not torch.isfinite(mask).all():
            raise ValueError('the mask holds NaN or inf values; give probabilities in [0, 1]')
        return mask if tuple(mask.shape[-2:]) == (hp, wp) else pad_divide_by(mask)[0]

    @property
    def np_masks(self) -> np.ndarray:
        """Current labels of every frame, unpadded uint8 [T,H,W] (a view: copy it to keep a snapshot)."""
        return unpad(self.padded_labels, self.pad)

    def labels(self, ti: int, padded: bool = False) -> np.ndarray:
        """Current hard label map of frame ti: uint8 [H,W], or [Hp,Wp] with padded=True."""
        return self.padded_labels[ti] if padded else self.np_masks[ti]

    # -- interaction -------------------------------------------------------------------------------------------
    @torch.no_grad()  # test-time state only: no autograd graph, whatever the caller's grad mode
    def interact(self, mask: torch.Tensor, idx: int, *, backward: bool = True, stop: int | None = None) -> np.ndarray:
        """Take a [K+1,1,H,W] mask (with background) for frame idx, propagate both ways, fuse; -> labels [T,H,W]
        (a new array each call, as the original returns).

        The memory policy of MiVOS §3.3 (docs/mivos.md): every interaction joins the permanent memory; each pass
        stops before the nearest interacted frame and fuses (§3.4) where it reaches one.

        backward=False / stop=s propagate forward only / only up to frame s-1 (semi-supervised evaluation with
        objects appearing later); the interactive defaults propagate to the nearest interacted frames.
        """
        if not 0 <= idx < self.t:
            raise IndexError(f'frame {idx} is outside the video (0..{self.t - 1})')
        mask = self.pad_mask(mask)
        self.interacted.add(idx)
        diff = mask - self.prob_store[idx]  # D+ = (M_new - M_old)_+, D- = (M_old - M_new)_+
        self.pos_diff, self.neg_diff = diff.clamp(0, 1), (-diff).clamp(0, 1)
        self._set_prob(idx, mask)
        key_k, key_v = self.networks.memorize(self.frame(idx), mask[1:])  # [K, Ck, 1, h, w]
        self.certain_k = key_k if self.certain_k is None else torch.cat([self.certain_k, key_k], dim=2)
        self.certain_v = key_v if self.certain_v is None else torch.cat([self.certain_v, key_v], dim=2)
        self._propagate(key_k, idx, forward=True, stop=stop)
        if backward:
            self._propagate(key_k, idx, forward=False)
        return self.np_masks.copy()  # the caller's own result: later interactions must not change it

    def update_mask_only(self, mask: torch.Tensor, idx: int) -> np.ndarray:
        """Show a mask on frame idx without propagating; prob, memory and interacted frames stay untouched."""
        if not 0 <= idx < self.t:
            raise IndexError(f'frame {idx} is outside the video (0..{self.t - 1})')
        self.padded_labels[idx] = label_map(self.pad_mask(mask))[0].cpu().numpy()
        return self.np_masks.copy()

    def propagation_frames(self, idx: int, forward: bool, stop: int | None = None) -> tuple[int, list[int]]:
        """(tc, frames): the nearest interacted frame beyond idx in that direction (T or -1 if none) and the frames
        an interaction at idx propagates to, in order, up to (not including) tc or `stop` (forward only)."""
        if forward:
            tc = min((i for i in self.interacted if i > idx), default=self.t)
            return tc, list(range(idx + 1, tc if stop is None else min(tc, stop)))
        tc = max((i for i in self.interacted if i < idx), default=-1)
        return tc, list(range(idx - 1, tc, -1))

    def _propagate(self, key_k: torch.Tensor, idx: int, forward: bool, stop: int | None = None) -> None:
        """Propagate from idx (see propagation_frames), writing prob and labels."""
        tc, frames = self.propagation_frames(idx, forward, stop)
        if not frames:
            return
        fuse = 0 <= tc < self.t and self.fusion != 'none'
        n_certain = self.certain_k.shape[2]  # permanent memory: every interaction
        memory = PassMemory(self.certain_k, self.certain_v, n_certain + len(frames) // self.mem_freq + 1,
                            time_major=self.networks.time_major_memory)
        last_committed = idx
        for ti in frames:
            query = self.query(ti)
            out = aggregate_wbg(self.networks.segment(*memory.read(), query), keep_bg=True)
            if ti != frames[-1]:
                commit = abs(ti - last_committed) >= self.mem_freq
                memory.put(*self.networks.memorize(self.frame(ti), out[1:]), commit)  # the un-fused result
                if commit:
                    last_committed = ti
            self._set_prob(ti, self._fuse(tc, idx, ti, self.prob_store[ti], out, key_k, query.key) if fuse else out)
            if self.on_frame is not None:
                self.on_frame(ti)

    def _fuse(self, tc: int, tr: int, ti: int, prev: torch.Tensor, curr: torch.Tensor, key_k: torch.Tensor,
              qk16: torch.Tensor) -> torch.Tensor:
        """Difference-aware fusion (MiVOS §3.4) of the previous round's prob (prev) with this round's (curr) at ti,
        tc < ti < tr or tr < ti < tc."""
        nc = abs(tc - ti) / abs(tc - tr)  # distance to the old interaction
        nr = abs(tr - ti) / abs(tc - tr)  # distance to the current interaction
        if self.fusion == 'linear':
            return nr * prev + nc * curr
        k = self.k
        attn = self.networks.attention(key_k, self.pos_diff[1:], self.neg_diff[1:],
                                       qk16.expand(k, -1, -1, -1))  # [K, 2, Hp, Wp]
        time = torch.tensor([[nc, nr]], dtype=torch.float32, device=self.device).expand(k, 2)
        image = self.frame(ti).expand(k, -1, -1, -1)
        logits = self.networks.fuse(image, prev[1:], curr[1:], attn, time)  # [K, 1, Hp, Wp]
        return aggregate_wbg(torch.sigmoid(logits).contiguous(), keep_bg=True)
