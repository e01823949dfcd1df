"""Winograd F(4x4, 3x3) convolution for inference: the same 3x3 convolution with 4x fewer multiplications.

Each 6x6 input tile d gives a 4x4 output tile Y = A^T [(G g G^T) ⊙ (B^T d B)] A (Lavin & Gray, 2016). The
elementwise product over all tiles and channels is 36 matrix products [tiles, C_in] x [C_in, C_out] (one batched
matmul); the tile transforms are a dozen elementwise passes each. Exact in real arithmetic; in float32 the result
differs from the direct convolution by about 1e-5 of the output's scale (measured in tests/test_winograd.py), an
order of magnitude inside the golden tolerances. oneDNN has no Winograd kernels for AVX2 CPUs and NNPACK does not
run on this one, so this is what makes the decoder's large 3x3 convolutions about twice as fast on the CPU.
"""
from __future__ import annotations

import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# G of F(4x4, 3x3) with interpolation points 0, ±1, ±2, ∞ (B^T and A^T are applied as explicit sums below).
_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=torch.float64)


def is_eligible(conv: nn.Module) -> bool:
    """A plain 3x3 / stride 1 / padding 1 / ungrouped, undilated, zero-padded conv."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == 'zeros')


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """[C_out, C_in, 3, 3] -> U = G g G^T laid out for the batched matmul: [36, C_in, C_out] (computed in float64)."""
    g = _G.to(weight.device)
    u = torch.einsum('ar,oirs,bs->abio', g, weight.detach().double(), g)  # [6, 6, C_in, C_out]
    return u.reshape(36, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def _input_rows(d: list[torch.Tensor], out: torch.Tensor) -> None:
    """out[a] = sum_r B^T[a, r] d[r] for the six rows of B^T, with shared partial sums (12 passes instead of 22)."""
    torch.add(d[4], d[2], alpha=-5, out=out[0]).add_(d[0], alpha=4)      # 4 d0 - 5 d2 + d4
    p, q = torch.add(d[4], d[2], alpha=-4), torch.add(d[3], d[1], alpha=-4)
    torch.add(p, q, out=out[1])                                          # -4 d1 - 4 d2 + d3 + d4
    torch.sub(p, q, out=out[2])                                          # 4 d1 - 4 d2 - d3 + d4
    r, s = torch.sub(d[4], d[2]), torch.sub(d[3], d[1])
    torch.add(r, s, alpha=2, out=out[3])                                 # -2 d1 - d2 + 2 d3 + d4
    torch.add(r, s, alpha=-2, out=out[4])                                # 2 d1 - d2 - 2 d3 + d4
    torch.add(d[5], d[3], alpha=-5, out=out[5]).add_(d[1], alpha=4)      # 4 d1 - 5 d3 + d5


def _output_rows(m: list[torch.Tensor], out: list[torch.Tensor]) -> None:
    """out[i] = sum_a A^T[i, a] m[a] for the four rows of A^T."""
    a, b = m[1] + m[2], m[1] - m[2]
    c, d = m[3] + m[4], m[3] - m[4]
    torch.add(m[0], a, out=out[0]).add_(c)                               # m0 + m1 + m2 + m3 + m4
    torch.add(b, d, alpha=2, out=out[1])                                 # m1 - m2 + 2 (m3 - m4)
    torch.add(a, c, alpha=4, out=out[2])                                 # m1 + m2 + 4 (m3 + m4)
    torch.add(b, d, alpha=8, out=out[3]).add_(m[5])                      # m1 - m2 + 8 (m3 - m4) + m5


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None, relu_input: bool = False
                     ) -> torch.Tensor:
    """conv2d(relu(x) if relu_input else x, g, bias, padding=1) for x [N,C,H,W] and u = transform_weight(g).

    Returns [N, C_out, H, W] in channels-last memory (the layout the tile transforms produce and read fastest).
    """
    n, c, h, w = x.shape
    k = u.shape[2]
    th, tw = -(-h // 4), -(-w // 4)  # output tiles
    hp, wp = 4 * th + 2, 4 * tw + 2
    xp = x.new_zeros(n, hp, wp, c)  # zero-padded NHWC copy (padding 1 before, >= 1 after)
    src = x.permute(0, 2, 3, 1)
    if relu_input:
        torch.clamp(src, min=0, out=xp[:, 1:h + 1, 1:w + 1])
    else:
        xp[:, 1:h + 1, 1:w + 1] = src
    # input transform B^T d B: rows (stride-4 views of the padded image), then columns -> V [6, 6, N, th, tw, C]
    rows = x.new_empty(6, n, th, wp, c)
    _input_rows([xp[:, r:r + 4 * th:4] for r in range(6)], rows)
    v = x.new_empty(6, 6, n, th, tw, c)
    _input_rows([rows[:, :, :, j:j + 4 * tw:4] for j in range(6)], v.transpose(0, 1))
    m = torch.bmm(v.view(36, n * th * tw, c), u).view(6, 6, n, th, tw, k)  # [36, tiles, C_out]
    # output transform A^T M A: over the first tile axis, then the second, into [N, th, 4, tw, 4, C_out]
    cols = x.new_empty(4, 6, n, th, tw, k)
    _output_rows(list(m), list(cols))
    y = x.new_empty(n, th, 4, tw, 4, k)
    for i in range(4):
        _output_rows(list(cols[i]), [y[:, :, i, :, j] for j in range(4)])
    y = y.view(n, 4 * th, 4 * tw, k)[:, :h, :w]
    y = y + bias if bias is not None else y.contiguous()
    return y.permute(0, 3, 1, 2)  # NCHW view of NHWC memory


class WinogradConv2d(nn.Module):
    """Inference-only stand-in for an eligible nn.Conv2d (see is_eligible), holding the transformed weight.

    relu_input=True computes conv(relu(x)) with the ReLU fused into the padding copy.
    """

    def __init__(self, conv: nn.Conv2d, relu_input: bool = False):
        super().__init__()
        if not is_eligible(conv):
            raise ValueError(f'Winograd F(4x4,3x3) needs a 3x3, stride-1, padding-1 conv, got {conv}')
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.relu_input = relu_input
        self.register_buffer('u', transform_weight(conv.weight), persistent=False)
        self.register_buffer('bias', None if conv.bias is None else conv.bias.detach().clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return winograd_conv3x3(x, self.u, self.bias, self.relu_input)

    def extra_repr(self) -> str:
        return f'{self.in_channels}, {self.out_channels}, kernel_size=(3, 3), F(4x4,3x3), relu_input={self.relu_input}'


def _cpu_seconds(fn, repeats: int = 3) -> float:
    fn()  # warm-up (allocator, oneDNN primitive creation)
    best = float('inf')
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


@torch.no_grad()
def winograd_is_faster(conv: nn.Conv2d, height: int, width: int, margin: float = 1.1) -> bool:
    """Time both algorithms on a [1, C_in, height, width] input (CPU only): True if Winograd wins by `margin`."""
    if conv.weight.device.type != 'cpu':
        return False  # cuDNN picks its own algorithms (Winograd included): use torch.backends.cudnn.benchmark
    x = torch.randn(1, conv.in_channels, height, width, dtype=conv.weight.dtype)
    u = transform_weight(conv.weight)
    direct = _cpu_seconds(lambda: F.conv2d(x, conv.weight, conv.bias, padding=1))
    wino = _cpu_seconds(lambda: winograd_conv3x3(x, u, conv.bias))
    return wino * margin < direct


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
