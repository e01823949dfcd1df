"""MiVOS propagation module: space-time memory network with top-k memory read (MiVOS §3.3, docs/mivos.md)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.propagation.decoder import Decoder
from model.propagation.encoders import KeyValue, MaskRGBEncoder, RGBEncoder, encoder_channels
from model.propagation.memory import AttentionMemory, MemoryReader

QueryFeatures = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class PropagationNetwork(nn.Module):
    """Memory encoder, query encoder, key/value projections, memory read and decoder.

    The defaults build the faithful network whose state dict equals the official `propagation_model.pth`.
    `arch`, `encoder_width` (stem channels of both encoders), `key_dim`, `value_dim` and `decoder_dims` give
    lighter variants for CPU experiments.
    `single_object=True` is the 4-channel memory encoder of training stage 0.
    """

    def __init__(self, top_k: int | None = 50, arch: str = 'resnet50', key_dim: int = 128, value_dim: int = 512,
                 decoder_dims: tuple[int, int, int] = (512, 256, 256), single_object: bool = False,
                 encoder_width: int = 64):
        super().__init__()
        c16, c8, c4 = encoder_channels(arch, encoder_width)
        self.mask_rgb_encoder = MaskRGBEncoder(arch, single_object, encoder_width)
        self.rgb_encoder = RGBEncoder(arch, encoder_width)
        self.kv_m_f16 = KeyValue(c16, key_dim, value_dim)
        self.kv_q_f16 = KeyValue(c16, key_dim, value_dim)
        self.memory = MemoryReader(top_k)
        self.attn_memory = AttentionMemory()
        self.decoder = Decoder(2 * value_dim, c8, c4, tuple(decoder_dims))

    @property
    def single_object(self) -> bool:
        return self.mask_rgb_encoder.single_object

    def memorize(self, frame: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frame [1,3,H,W], masks [K,1,H,W] -> (keys [K,Ck,1,h,w], values [K,Cv,1,h,w]).

        Each object is encoded with its own mask and the sum of the other objects' masks ("others").
        """
        k = masks.shape[0]
        frame = frame.expand(k, -1, -1, -1)
        others = None if self.single_object else masks.sum(dim=0, keepdim=True) - masks
        f16 = self.mask_rgb_encoder(frame, masks, others)
        k16, v16 = self.kv_m_f16(f16)
        return k16.unsqueeze(2), v16.unsqueeze(2)

    def get_query_values(self, frame: torch.Tensor) -> QueryFeatures:
        """frame [B,3,H,W] -> (f16, f8, f4, k16, v16) of the query encoder."""
        f16, f8, f4 = self.rgb_encoder(frame)
        k16, v16 = self.kv_q_f16(f16)
        return f16, f8, f4, k16, v16

    def segment_logits(self, keys: torch.Tensor, values: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor,
                       k16: torch.Tensor, v16: torch.Tensor) -> torch.Tensor:
        """Memory [K,Ck,T,h,w]/[K,Cv,T,h,w] and query features (batch 1 or K) -> logits [K,1,H,W]."""
        k = keys.shape[0]
        readout = self.memory(keys, values, k16)  # [K, Cv, h, w]
        x = torch.cat([readout, v16.expand(k, -1, -1, -1)], dim=1)  # [K, 2Cv, h, w]
        return self.decoder(x, f8, f4)

    def segment_with_query(self, keys: torch.Tensor, values: torch.Tensor, f16: torch.Tensor, f8: torch.Tensor,
                           f4: torch.Tensor, k16: torch.Tensor, v16: torch.Tensor) -> torch.Tensor:
        """Original call API: per-object probabilities sigmoid(logits) [K,1,H,W] (f16 is unused)."""
        return torch.sigmoid(self.segment_logits(keys, values, f8, f4, k16, v16))

    def get_W(self, mk16: torch.Tensor, qk16: torch.Tensor) -> torch.Tensor:
        """Attention of one memory frame to the query: [1, hw (memory), hw (query)], softmax over memory."""
        return self.attn_memory(mk16, qk16)

    def get_attention(self, mk16: torch.Tensor, pos_mask: torch.Tensor, neg_mask: torch.Tensor,
                      qk16: torch.Tensor) -> torch.Tensor:
        """Align the difference maps D+/D- [B,1,H,W] of the memory frame to the query: [B,2,H,W] = [A+, A-]."""
        b, _, h, w = pos_mask.shape
        nh, nw = h // 16, w // 16
        weights = self.get_W(mk16, qk16)  # [B, hw, hw]
        diffs = torch.cat([pos_mask, neg_mask], dim=1)
        diffs = F.interpolate(diffs, size=(nh, nw), mode='area').view(b, 2, nh * nw)  # [B, 2, hw]
        attn = torch.bmm(diffs, weights).view(b, 2, nh, nw)
        return F.interpolate(attn, size=(h, w), mode='bilinear', align_corners=False)

    def forward(self, *args, **kwargs):
        raise RuntimeError('PropagationNetwork has no forward(): use memorize / get_query_values / '
                           'segment_with_query (inference.InferenceCore), or the training wrapper.')
