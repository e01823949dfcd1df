"""Winograd F(4x4, 3x3) convolution for inference: the same 3x3 convolution with 4x fewer multiplications.

Each 6x6 input tile d gives a 4x4 output tile Y = A^T [(G g G^T) ⊙ (B^T d B)] A (Lavin & Gray, 2016). The
elementwise product over all tiles and channels is 36 matrix products [tiles, C_in] x [C_in, C_out] (one batched
matmul); each tile transform is two small matmuls over every tile and channel at once. Exact in real arithmetic;
in float32 the result differs from the direct convolution by about 1e-5 of the output's scale (tests/test_winograd.py),
an order of magnitude inside the golden tolerances. PyTorch's CPU convolutions (oneDNN) do not use Winograd on the
CPUs we measured; accel.timing decides per conv shape whether this is faster (measurements: docs/speed.md).
"""
from __future__ import annotations

import math
import threading

import torch
import torch.nn as nn

from accel import native

# Transform matrices of F(4x4, 3x3) with interpolation points 0, ±1, ±2, ∞.
_BT = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=torch.float64)
_AT = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                   dtype=torch.float64)
_MATRICES: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
_WORKSPACE = threading.local()  # reused intermediate buffers, see _scratch


def _transforms(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B^T, A^T) in like's dtype and device (made once per dtype/device)."""
    key = (like.dtype, like.device)
    if key not in _MATRICES:
        _MATRICES[key] = (_BT.to(like.device, like.dtype), _AT.to(like.device, like.dtype))
    return _MATRICES[key]


def is_eligible(conv: nn.Module) -> bool:
    """A plain 3x3 / stride 1 / padding 1 / ungrouped, undilated, zero-padded conv."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == 'zeros')


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """[C_out, C_in, 3, 3] -> U = G g G^T laid out for the batched matmul: [36, C_in, C_out] (two matmuls)."""
    o, i = weight.shape[:2]
    g = _G.to(weight.device, weight.dtype)
    rows = weight.detach().reshape(o * i * 3, 3) @ g.T  # g G^T for every kernel row: [o*i*3 (r), 6 (b)]
    u = g @ rows.view(o * i, 3, 6).transpose(0, 1).reshape(3, -1)  # G (g G^T): [6 (a), o*i*6 (b)]
    return u.view(6, o, i, 6).permute(0, 3, 2, 1).reshape(36, i, o).contiguous()


def _scratch(slot: int, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A reused buffer for intermediate `slot` (per thread, dtype and device): the transforms' large temporaries
    would otherwise be fresh allocations on every call, whose page faults cost as much as the arithmetic."""
    numel = math.prod(shape)
    buffers = _WORKSPACE.__dict__.setdefault('buffers', {})
    key = (slot, like.dtype, like.device)
    stale = key in buffers and buffers[key].is_inference() and not torch.is_inference_mode_enabled()
    if key not in buffers or buffers[key].numel() < numel or stale:  # an inference tensor cannot be written
        buffers[key] = like.new_empty(numel)                           # outside inference_mode: replace it
    return buffers[key][:numel].view(shape)


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None, relu_input: bool = False,
                     residual: torch.Tensor | None = None, relu_output: bool = False) -> torch.Tensor:
    """conv2d(relu(x) if relu_input else x, g, bias, padding=1) (+ residual) (then ReLU if relu_output) for
    x [N,C,H,W] and u = transform_weight(g); residual [N or 1 (broadcast), C_out, H, W].

    Returns [N, C_out, H, W] in channels-last memory (the layout the tile transforms produce and read fastest).
    The tile transforms run as native kernels (accel.native) on float32 CPU tensors when they can be built,
    otherwise as PyTorch ops (_transformed_torch).
    """
    n, c, h, w = x.shape
    k = u.shape[2]
    if residual is not None and (residual.shape[0] not in (1, n) or tuple(residual.shape[1:]) != (k, h, w)):
        raise ValueError(f'residual must be [{n} or 1,{k},{h},{w}], got {tuple(residual.shape)}')
    lib = native.load() if x.device.type == 'cpu' and x.dtype == torch.float32 else None
    if lib is None:
        y = _transformed_torch(x, u, bias, relu_input)
        if residual is not None:
            y += residual
        return y.relu_() if relu_output else y
    p = n * -(-h // 4) * -(-w // 4)  # tiles
    xh = x.permute(0, 2, 3, 1).contiguous()  # NHWC: a view for channels-last inputs (every Winograd output)
    # the transformed tiles are tile-major, [tiles, 36, C]: the batched matmul takes its 36 strided matrices as
    # they are, and the kernels read / write one contiguous block per tile
    v = _scratch(0, (p, 36, c), x)
    native.parallel_tiles(lib.winograd_f43_input, p, xh.data_ptr(), v.data_ptr(), n, h, w, c, int(relu_input))
    m = _scratch(1, (p, 36, k), x)
    torch.bmm(v.transpose(0, 1), u, out=m.transpose(0, 1))  # products summed over C_in: [36, tiles, C_out]
    out = x.new_empty(n, h, w, k)
    res = None if residual is None else residual.permute(0, 2, 3, 1).contiguous()
    bias = None if bias is None else bias.contiguous()  # held here: the kernel reads its memory
    native.parallel_tiles(lib.winograd_f43_output, p, m.data_ptr(), out.data_ptr(),
                          None if bias is None else bias.data_ptr(),
                          None if res is None else res.data_ptr(), 1 if res is None else res.shape[0], n, h, w, k,
                          int(relu_output))
    return out.permute(0, 3, 1, 2)  # NCHW view of NHWC memory


def _transformed_torch(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None, relu_input: bool
                       ) -> torch.Tensor:
    """winograd_conv3x3 without residual / output ReLU, with the tile transforms as PyTorch ops (any device)."""
    n, c, h, w = x.shape
    k = u.shape[2]
    th, tw = -(-h // 4), -(-w // 4)  # output tiles
    hp, wp, p = 4 * th + 2, 4 * tw + 2, n * th * tw
    # zero-padded NHWC copy (padding 1 before, >= 1 after): zero the border only
    xp = _scratch(0, (n, hp, wp, c), x)
    xp[:, 0].zero_(), xp[:, h + 1:].zero_(), xp[:, 1:h + 1, 0].zero_(), xp[:, 1:h + 1, w + 1:].zero_()
    src = x.permute(0, 2, 3, 1)
    if relu_input:
        torch.clamp(src, min=0, out=xp[:, 1:h + 1, 1:w + 1])
    else:
        xp[:, 1:h + 1, 1:w + 1] = src
    bt, at = _transforms(x)
    # input transform: the 36 values of every 6x6 tile (overlapping stride-4 windows: one gathering copy), then
    # V = B^T d B as two matmuls over all tiles and channels at once (rows, then columns): [6, 6, N*th*tw*C]
    sn, sh, sw, _ = xp.stride()
    tiles = _scratch(1, (6, 6 * p * c), x)
    tiles.view(6, 6, n, th, tw, c).copy_(xp.as_strided((6, 6, n, th, tw, c), (sh, sw, sn, 4 * sh, 4 * sw, 1)))
    rows = torch.mm(bt, tiles, out=_scratch(2, (6, 6 * p * c), x)).view(6, 6, p * c)
    v = torch.matmul(bt, rows, out=_scratch(3, (6, 6, p * c), x))
    m = torch.bmm(v.view(36, p, c), u, out=_scratch(1, (36, p, k), x))  # products summed over C_in: [36, tiles, C_out]
    # output transform Y = A^T M A -> [4(i), 4(j), N, th, tw, C_out], written as [N, th, i, tw, j, C_out]
    rows = torch.mm(at, m.view(6, 6 * p * k), out=_scratch(2, (4, 6 * p * k), x)).view(4, 6, p * k)
    y = torch.matmul(at, rows, out=_scratch(3, (4, 4, p * k), x)).view(4, 4, n, th, tw, k)
    y = y.permute(2, 3, 0, 4, 1, 5)
    out = x.new_empty(n, th, 4, tw, 4, k)
    if bias is None:
        out.copy_(y)
    else:
        torch.add(y, bias, out=out)
    y = out.view(n, 4 * th, 4 * tw, k)
    if (4 * th, 4 * tw) != (h, w):
        y = y[:, :h, :w].contiguous()
    return y.permute(0, 3, 1, 2)  # NCHW view of NHWC memory


class WinogradConv2d(nn.Module):
    """Inference-only stand-in for an eligible nn.Conv2d (see is_eligible), holding the transformed weight.

    relu_input=True computes conv(relu(x)) with the ReLU fused into the input transform; forward(x, residual)
    adds residual [N or 1, C_out, H, W] and relu_output=True applies a ReLU last, both in the output transform.
    """

    def __init__(self, conv: nn.Conv2d, relu_input: bool = False, relu_output: bool = False):
        super().__init__()
        if not is_eligible(conv):
            raise ValueError(f'Winograd F(4x4,3x3) needs a 3x3, stride-1, padding-1 conv, got {conv}')
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.relu_input, self.relu_output = relu_input, relu_output
        self.register_buffer('u', transform_weight(conv.weight), persistent=False)
        self.register_buffer('bias', None if conv.bias is None else conv.bias.detach().clone(), persistent=False)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError('WinogradConv2d is inference-only (it has no backward): call it under torch.no_grad()')
        return winograd_conv3x3(x, self.u, self.bias, self.relu_input, residual, self.relu_output)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size=(3, 3), F(4x4,3x3), '
                f'relu_input={self.relu_input}, relu_output={self.relu_output}')


class WinogradResBlock(nn.Module):
    """Inference form of the decoder's ResBlock, conv2(relu(conv1(relu(x)))) + shortcut(x), with Winograd convs:
    both ReLUs run in the input transforms and the residual add in conv2's output transform (no separate pass)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.conv1 = WinogradConv2d(block.conv1, relu_input=True)
        self.conv2 = WinogradConv2d(block.conv2, relu_input=True)
        self.downsample = None if block.downsample is None else WinogradConv2d(block.downsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.conv2(self.conv1(x), shortcut)


class WinogradKeyValue(nn.Module):
    """Inference stand-in for a KeyValue projection: key and value convs fused into one Winograd conv (the input
    transform is shared), outputs split back into (key [B,Ck,h,w], value [B,Cv,h,w]), contiguous."""

    def __init__(self, key_proj: nn.Conv2d, val_proj: nn.Conv2d):
        super().__init__()
        fused = nn.Conv2d(key_proj.in_channels, key_proj.out_channels + val_proj.out_channels, 3, padding=1)
        fused.weight = nn.Parameter(torch.cat([key_proj.weight, val_proj.weight]).detach(), requires_grad=False)
        fused.bias = nn.Parameter(torch.cat([key_proj.bias, val_proj.bias]).detach(), requires_grad=False)
        self.conv = WinogradConv2d(fused)
        self.key_dim = key_proj.out_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        return y[:, :self.key_dim].contiguous(), y[:, self.key_dim:].contiguous()
