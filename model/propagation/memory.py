"""Space-time memory read (top-k affinity, MiVOS §3.3; STM §3) and the single-frame attention for fusion."""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F


def affinity_qm(mk: torch.Tensor, qk: torch.Tensor) -> torch.Tensor:
    """Scaled affinity, query-major: mk [B,Ck,T,h,w], qk [B,Ck,h,w] -> [B, h*w (query), T*h*w (memory)]."""
    ck = mk.shape[1]
    mk = mk.flatten(2)  # [B, Ck, THW]
    qk = qk.flatten(2).transpose(1, 2)  # [B, HW, Ck]
    return torch.bmm(qk, mk) / math.sqrt(ck)


def topk_sparse(affinity: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights, indices) [B, HW, top_k] of the top_k entries of each query row: exp(v - max) / sum over the kept."""
    values, indices = torch.topk(affinity, k=top_k, dim=-1)  # [B, HW, k], sorted descending
    weights = torch.exp(values - values[..., :1])
    return weights / weights.sum(dim=-1, keepdim=True), indices


def topk_weights(affinity: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Normalise along the last (memory) axis keeping only its top_k entries per query; others are 0.

    Entries are exp(v - max kept v) / sum over the kept; top_k=None is the plain softmax of training.
    Memories smaller than top_k positions use all positions (the original crashes there).
    """
    if top_k is None or top_k >= affinity.shape[-1]:
        return F.softmax(affinity, dim=-1)
    weights, indices = topk_sparse(affinity, top_k)
    return torch.zeros_like(affinity).scatter_(-1, indices, weights)


def gathered_readout(mv: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """readout[b, :, q] = sum_j weights[b,q,j] * mv[b, :, indices[b,q,j]] without the dense [HW, THW] matrix.

    mv [B,Cv,THW], weights/indices [B,HW,k] -> [B,Cv,HW]; one sparse (CSR, k entries per row) product per object.
    """
    b, hw, k = weights.shape
    thw = mv.shape[-1]
    rows = torch.arange(0, hw * k + 1, k, device=mv.device)
    out = []
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Sparse CSR tensor support is in beta')
        for i in range(b):
            w_sparse = torch.sparse_csr_tensor(rows, indices[i].flatten(), weights[i].flatten(), (hw, thw),
                                               check_invariants=False)  # [HW, THW]
            out.append((w_sparse @ mv[i].t()).t())  # [Cv, HW]
    return torch.stack(out)


def chunked_topk(mk: torch.Tensor, qk: torch.Tensor, top_k: int, max_bytes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """topk_sparse(affinity_qm(mk, qk)) computed for blocks of query rows so that no affinity block exceeds
    max_bytes: rows are independent, so the result is the same while memory stays bounded for long memories."""
    b, thw = mk.shape[0], mk[0, 0].numel()
    rows = max(1, max_bytes // (4 * thw * b))
    qk = qk.flatten(2)  # [B, Ck, HW]
    parts = [topk_sparse(affinity_qm(mk, qk[..., i:i + rows]), top_k) for i in range(0, qk.shape[-1], rows)]
    return torch.cat([w for w, _ in parts], dim=1), torch.cat([i for _, i in parts], dim=1)  # [B, HW, k] each


class MemoryReader(nn.Module):
    """Reads the memory values at every query position: readout = mv · W (W = top-k softmax of affinity).

    gathered=True reads the top-k entries directly (a sparse product) instead of multiplying the dense, mostly
    zero W: the same sum without the zeros (float summation order differs, ~1e-7 relative); the affinity is then
    computed in blocks of query rows of at most max_affinity_bytes (long memories need no [HW, THW] matrix).
    """

    def __init__(self, top_k: int | None = 50, gathered: bool = False, max_affinity_bytes: int = 64 * 2**20):
        super().__init__()
        self.top_k = top_k
        self.gathered = gathered
        self.max_affinity_bytes = max_affinity_bytes

    def forward(self, mk: torch.Tensor, mv: torch.Tensor, qk: torch.Tensor) -> torch.Tensor:
        """mk [B,Ck,T,h,w], mv [B,Cv,T,h,w], qk [B or 1,Ck,h,w] -> readout [B,Cv,h,w]."""
        b, cv = mv.shape[:2]
        h, w = qk.shape[-2:]
        if qk.shape[0] != b:
            qk = qk.expand(b, -1, -1, -1)
        if self.gathered and self.top_k is not None and self.top_k < mk[0, 0].numel():
            readout = gathered_readout(mv.flatten(2), *chunked_topk(mk, qk, self.top_k, self.max_affinity_bytes))
        else:
            affinity = affinity_qm(mk, qk)  # [B, HW, THW]
            readout = torch.bmm(mv.flatten(2), topk_weights(affinity, self.top_k).transpose(1, 2))  # [B, Cv, HW]
        return readout.view(b, cv, h, w)


class AttentionMemory(nn.Module):
    """Full-softmax attention of one memory frame to a query frame (no top-k), used by fusion."""

    def forward(self, mk: torch.Tensor, qk: torch.Tensor) -> torch.Tensor:
        """mk [B,Ck,1,h,w], qk [B,Ck,h,w] -> W [B, h*w (memory), h*w (query)], softmax over memory."""
        return F.softmax(affinity_qm(mk, qk), dim=-1).transpose(1, 2)
