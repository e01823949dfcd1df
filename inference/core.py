"""InferenceCore: the interact -> propagate -> fuse loop of MiVOS (facts §d1), owning all test-time state."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from inference.feature_cache import LRUCache
from inference.image_source import ImageFolder
from inference.onednn import PackedFusionNet, onednn_available
from inference.optimize import CONV_ALGORITHMS, ConvAlgorithm, optimize_for_inference
from inference.pass_memory import PassMemory
from inference.prob_store import ProbStorage, ProbStore
from inference.split_decoder import DecoderQuery
from model.aggregate import aggregate_wbg
from model.fusion import FusionNet
from model.propagation.memory import MemoryReader
from util.image import normalize_u8
from util.tensor_util import label_map, pad_divide_by, padding_for, unpad

log = logging.getLogger(__name__)

FusionMode = Literal['diff-aware', 'linear', 'none']
FUSION_MODES = ('diff-aware', 'linear', 'none')
DEFAULT_FEATURE_CACHE_BYTES = 256 * 2**20  # ~23 frames at 240x432, ~6 at 480p (optimised entries, ~11 / 44 MB)
ORIGINAL_FEATURE_CACHE_FRAMES = 105  # the original's query-feature cache (mem_profile 0/1)


class InferenceCore:
    """Interactive segmentation state of one video: probabilities, interaction memory and cached query features.

    images: normalised float [1,T,3,H,W] or [T,3,H,W] (the original API), uint8 RGB [T,H,W,3] (normalised on
    use), or an ImageFolder (frames stay on disk and are decoded when needed).
    Images stay where they are given (e.g. the CPU); one frame at a time is moved to `device`.
    fusion: 'diff-aware' (MiVOS), 'linear' (the paper's ablation: blend by temporal distance) or 'none'.
    optimize: False runs the simplest faithful computation, the original's: unfolded BatchNorm, dense top-k
    read-out, the cached (f16, f8, f4, k16, v16) of each frame, f8/f4/v16 expanded to K so that the decoder's
    query-only skip path runs once per object on every pass. True (default) folds BatchNorm, reads the top-k
    entries directly, and caches each frame's query-only decoder work (once for all objects) instead; on the CPU
    the encoders and the fusion network run as oneDNN primitives with fused ReLU / residual adds
    (inference.onednn); results equal the reference within float rounding (well inside the golden tolerances).
    feature_cache_size / feature_cache_bytes: limits of the per-frame feature cache (frames / bytes, None = none);
    the default is 256 MiB, whatever the frame count (the original kept up to 105 frames: 1.3 GB at 240x432), so
    that memory stays flat in T; a frame that is not cached costs its query encoder and decoder skip path again.
    prob_storage: how `prob` is kept (inference.prob_store): 'float32' (the original), 'uint16' (fixed point,
    |error| <= 7.6e-6, half the memory) or 'disk' (uint16 in a temporary file: memory independent of T).
    None = 'disk' when optimised (memory stays flat in T; a frame is (K+1) x 0.2 MB at 240x432, written and read
    back once per propagated frame, from the page cache), 'float32' for the reference. `prob` always reads as
    float32 [K+1,T,1,Hp,Wp] (built on each access unless stored as float32); `prob_frame(ti)` reads one frame.
    channels_last: run the fusion network channels-last (None = when optimised on the CPU, where it is faster;
    the reference runs it as the original does, NCHW).
    conv_algorithm (optimised mode): 'auto' runs the decoder's and key/value projections' 3x3 convs with Winograd
    F(4x4,3x3) where a timing at this video's size finds it faster (CPU), 'winograd' always, 'direct' never.
    """

    def __init__(self, prop_net: torch.nn.Module, fusion_net: torch.nn.Module | None, images: torch.Tensor | np.ndarray,
                 num_objects: int, mem_freq: int = 5, device: str | torch.device = 'cpu',
                 fusion: FusionMode = 'diff-aware', feature_cache_size: int | None = None, *,
                 feature_cache_bytes: int | None = DEFAULT_FEATURE_CACHE_BYTES, optimize: bool = True,
                 channels_last: bool | None = None, prob_storage: ProbStorage | None = None,
                 conv_algorithm: ConvAlgorithm = 'auto'):
        if num_objects < 1:
            raise ValueError(f'num_objects must be >= 1, got {num_objects}')
        if mem_freq < 1:
            raise ValueError(f'mem_freq must be >= 1, got {mem_freq}')
        if fusion not in FUSION_MODES:
            raise ValueError(f'fusion must be one of {FUSION_MODES}, got {fusion!r}')
        if fusion == 'diff-aware' and fusion_net is None:
            raise ValueError("fusion='diff-aware' needs a fusion_net (or pass fusion='none' / 'linear')")
        if conv_algorithm not in CONV_ALGORITHMS:
            raise ValueError(f'conv_algorithm must be one of {CONV_ALGORITHMS}, got {conv_algorithm!r}')
        self.prop_net, self.fusion_net = prop_net, fusion_net
        self.images = self._check_images(images)
        self.k, self.mem_freq, self.fusion = num_objects, mem_freq, fusion
        self.device = torch.device(device)
        self.t = self.images.shape[0]
        self.h, self.w = (self.images.shape[1:3] if self._u8 else self.images.shape[-2:])
        self.pad = padding_for(self.h, self.w)
        hp, wp = self.h + self.pad[2] + self.pad[3], self.w + self.pad[0] + self.pad[1]

        # probabilities [K+1, T, 1, Hp, Wp], background first; untouched frames argmax to background.
        self.probs = ProbStore(self.k + 1, self.t, hp, wp, prob_storage or ('disk' if optimize else 'float32'),
                               self.device)
        self.masks = np.zeros((self.t, hp, wp), dtype=np.uint8)  # padded argmax labels, as the original keeps them
        self.interacted: set[int] = set()
        self.certain_k: torch.Tensor | None = None  # [K, Ck, n_interactions, h, w]
        self.certain_v: torch.Tensor | None = None
        self.pos_diff = self.neg_diff = None  # D+ / D- of the latest interaction, [K+1, 1, Hp, Wp]
        self.query_cache: LRUCache[tuple] = LRUCache(feature_cache_size, feature_cache_bytes)
        self.optimize = optimize
        if optimize:  # folded BN, split decoder, Winograd convs: a transformed copy sharing prop_net's tensors
            fast = optimize_for_inference(prop_net, (hp, wp), conv_algorithm)
            self.net, self.decoder = fast.net, fast.decoder
        else:
            self.net, self.decoder = prop_net, None
        self.reader = MemoryReader(prop_net.memory.top_k, gathered=True) if optimize else prop_net.memory
        self.channels_last = optimize and self.device.type == 'cpu' if channels_last is None else channels_last
        self.fusion_forward = fusion_net  # the module _fuse runs: packed oneDNN convs when optimised on the CPU
        if (optimize and fusion == 'diff-aware' and type(fusion_net) is FusionNet
                and onednn_available(self.device)):
            self.fusion_forward = PackedFusionNet(fusion_net, (1, 9, hp, wp))
        self.on_frame: Callable[[int], None] | None = None  # progress hook, called after each propagated frame

    def _check_images(self, images: torch.Tensor | np.ndarray | ImageFolder) -> torch.Tensor | ImageFolder:
        if isinstance(images, ImageFolder):
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

    @torch.no_grad()
    def query_features(self, ti: int) -> tuple[torch.Tensor, ...]:
        """(f8, f4, k16, v16) of frame ti (f16 is never needed); cached in reference mode with f16, as the
        original does, computed afresh when optimised (whose cache holds the decoder's query-only results, see _query)."""
        if self.optimize:
            return self.net.get_query_values(self.frame(ti))[1:]
        return self.query_cache.get(ti, lambda: self.prop_net.get_query_values(self.frame(ti)))[1:]

    def _query(self, ti: int) -> tuple[torch.Tensor, DecoderQuery]:
        """(k16, decoder query parts) of frame ti, computed once and cached (optimised mode)."""
        def compute() -> tuple[torch.Tensor, DecoderQuery]:
            _, f8, f4, k16, v16 = self.net.get_query_values(self.frame(ti))
            return k16, self.decoder.query_parts(v16, f8, f4)
        return self.query_cache.get(ti, compute)

    def _segment(self, keys: torch.Tensor, values: torch.Tensor, ti: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-object probabilities [K,1,Hp,Wp] of frame ti read from the memory, and the query key k16."""
        if self.optimize:
            k16, dq = self._query(ti)
            return torch.sigmoid(self.decoder(self.reader(keys, values, k16), dq)), k16
        f8, f4, k16, v16 = self.query_features(ti)
        f8, f4, v16 = (x.expand(self.k, -1, -1, -1) for x in (f8, f4, v16))  # the original decodes per object
        return self.prop_net.segment_with_query(keys, values, None, f8, f4, k16, v16), k16

    @property
    def prob(self) -> torch.Tensor:
        """Probabilities of every frame, float32 [K+1,T,1,Hp,Wp] (the stored tensor with prob_storage='float32',
        otherwise a new one: use prob_frame(ti) to read single frames without materialising all T)."""
        return self.probs.dense()

    def prob_frame(self, ti: int) -> torch.Tensor:
        """Probabilities of frame ti, float32 [K+1,1,Hp,Wp] on the device."""
        return self.probs[ti]

    def _set_prob(self, ti: int, prob: torch.Tensor) -> None:
        """Store frame ti's probabilities and its argmax labels (taken from the exact float values)."""
        self.probs[ti] = prob
        self.masks[ti] = label_map(prob)[0].cpu().numpy()  # [Hp, Wp]

    def pad_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """[K+1,1,H,W] mask (or one already padded to [K+1,1,Hp,Wp]) -> padded, float32, on the device."""
        hp, wp = self.probs.shape[-2:]
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
        return unpad(self.masks, self.pad)

    def labels(self, ti: int, padded: bool = False) -> np.ndarray:
        """Current hard label map of frame ti: uint8 [H,W], or [Hp,Wp] with padded=True."""
        return self.masks[ti] if padded else self.np_masks[ti]

    # -- interaction -------------------------------------------------------------------------------------------
    @torch.no_grad()  # test-time state only: no autograd graph, whatever the caller's grad mode
    def interact(self, mask: torch.Tensor, idx: int, *, backward: bool = True, stop: int | None = None) -> np.ndarray:
        """Take a [K+1,1,H,W] mask (with background) for frame idx, propagate both ways, fuse; -> labels [T,H,W]
        (a new array each call, as the original returns).

        backward=False / stop=s propagate forward only / only up to frame s-1 (semi-supervised evaluation with
        objects appearing later); the interactive defaults propagate to the nearest interacted frames.
        """
        if not 0 <= idx < self.t:
            raise IndexError(f'frame {idx} is outside the video (0..{self.t - 1})')
        mask = self.pad_mask(mask)
        self.interacted.add(idx)
        diff = mask - self.probs[idx]  # D+ = (M_new - M_old)_+, D- = (M_old - M_new)_+
        self.pos_diff, self.neg_diff = diff.clamp(0, 1), (-diff).clamp(0, 1)
        self._set_prob(idx, mask)
        key_k, key_v = self.net.memorize(self.frame(idx), mask[1:])  # [K, Ck, 1, h, w]
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
        self.masks[idx] = label_map(self.pad_mask(mask))[0].cpu().numpy()
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
                            time_major=self.optimize)
        last_committed = idx
        for ti in frames:
            probs, k16 = self._segment(*memory.read(), ti)
            out = aggregate_wbg(probs, keep_bg=True)
            if ti != frames[-1]:
                commit = abs(ti - last_committed) >= self.mem_freq
                memory.put(*self.net.memorize(self.frame(ti), out[1:]), commit)  # memory stores the un-fused result
                if commit:
                    last_committed = ti
            self._set_prob(ti, self._fuse(tc, idx, ti, self.probs[ti], out, key_k, k16) if fuse else out)
            if self.on_frame is not None:
                self.on_frame(ti)

    def _fuse(self, tc: int, tr: int, ti: int, prev: torch.Tensor, curr: torch.Tensor, key_k: torch.Tensor,
              qk16: torch.Tensor) -> torch.Tensor:
        """Fuse the previous round's prob (prev) with this round's (curr) at ti, tc < ti < tr or tr < ti < tc."""
        nc = abs(tc - ti) / abs(tc - tr)  # distance to the old interaction
        nr = abs(tr - ti) / abs(tc - tr)  # distance to the current interaction
        if self.fusion == 'linear':
            return nr * prev + nc * curr
        k = self.k
        attn = self.net.get_attention(key_k, self.pos_diff[1:], self.neg_diff[1:],
                                           qk16.expand(k, -1, -1, -1))  # [K, 2, Hp, Wp]
        time = torch.tensor([[nc, nr]], dtype=torch.float32, device=self.device).expand(k, 2)
        image = self.frame(ti).expand(k, -1, -1, -1)
        inputs = (image, prev[1:], curr[1:], attn)
        if self.channels_last:  # the fusion net's full-resolution 3x3 convs run faster channels-last on CPU
            inputs = tuple(x.contiguous(memory_format=torch.channels_last) for x in inputs)
        logits = self.fusion_forward(*inputs, time)  # [K, 1, Hp, Wp]
        return aggregate_wbg(torch.sigmoid(logits).contiguous(), keep_bg=True)
