"""Augmentation helpers shared by the training datasets: tv_tensors wrapping, fill colours, TPS warp, output tensors.

Images travel as `tv_tensors.Image` uint8 [..., 3, H, W] and masks as `tv_tensors.Mask` uint8 [..., 1, H, W], so one
torchvision v2 call transforms both with the same parameters (masks always nearest) and `im_mean_fill()` gives images
the ImageNet-mean fill colour and masks 0.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as TF

from dataset.rng import SampleRng
from util.image import IM_MEAN_U8, normalize



def to_image(rgb: np.ndarray) -> tv_tensors.Image:
    """uint8 [..., H, W, 3] numpy -> tv_tensors.Image uint8 [..., 3, H, W]."""
    return tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(rgb)).movedim(-1, -3))


def to_mask(mask: np.ndarray) -> tv_tensors.Mask:
    """bool/uint8 [..., H, W] numpy -> tv_tensors.Mask uint8 [..., 1, H, W]."""
    return tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(mask.astype(np.uint8))).unsqueeze(-3))


def normalized_rgb(image: torch.Tensor) -> torch.Tensor:
    """uint8 [..., 3, H, W] -> ImageNet-normalised float32 [..., 3, H, W]."""
    return normalize(image.as_subclass(torch.Tensor).float() / 255)


def image_jitter(brightness: float, contrast: float, saturation: float, hue: float,
                 grayscale_p: float = 0.0) -> v2.Transform:
    """Image-only colour jitter (+ optional random greyscale); masks pass through v2 colour ops unchanged."""
    ops: list[v2.Transform] = [v2.ColorJitter(brightness, contrast, saturation, hue)]
    if grayscale_p > 0:
        ops.append(v2.RandomGrayscale(grayscale_p))
    return v2.Compose(ops)


def im_mean_fill() -> dict:
    """Fill argument for v2 geometric transforms: im_mean for images (tensor or PIL), 0 for masks (a fresh dict,
    since torchvision converts fill dicts in place)."""
    return {tv_tensors.Mask: 0, 'others': list(IM_MEAN_U8)}


def random_affine(affine: v2.RandomAffine, rng: SampleRng, image: torch.Tensor, mask: torch.Tensor,
                  bicubic_mask: bool = False) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """One RandomAffine draw applied to image uint8 [3, H, W] and mask uint8 [1, H, W].

    The image is resampled through PIL (torchvision offers BICUBIC affine for PIL images only) with the transform's
    interpolation and fill; the mask with nearest (fill 0), or with BICUBIC then threshold 0.5 if bicubic_mask
    (the static per-frame affine, docs/mivos.md).
    """
    params = rng.apply(affine.make_params, [image])
    out_image = tv_tensors.Image(TF.pil_to_tensor(affine.transform(TF.to_pil_image(image), params)))
    if not bicubic_mask:
        return out_image, affine.transform(tv_tensors.Mask(mask), params)
    soft = TF.affine(TF.to_pil_image(mask.as_subclass(torch.Tensor) * 255), **params,
                     interpolation=InterpolationMode.BICUBIC, fill=0, center=affine.center)
    return out_image, tv_tensors.Mask((TF.pil_to_tensor(soft) > 127).to(torch.uint8))


def _tps_kernel(r2: torch.Tensor) -> torch.Tensor:
    """Thin-plate radial basis U = r^2 log r^2 (0 at r = 0)."""
    return torch.where(r2 > 0, r2 * torch.log(r2.clamp_min(1e-30)), torch.zeros_like(r2))


def tps_grid(height: int, width: int, rng: SampleRng, n_points: int = 12, sigma: float = 0.02) -> torch.Tensor:
    """Sampling grid [1, H, W, 2] of a random thin-plate-spline warp.

    n_points control points uniform in [0, 1]^2 (x/width, y/height) are moved by N(0, sigma); the TPS maps each
    output pixel back to where it comes from, so the content at a control point lands on its moved position.
    """
    src = torch.rand(n_points, 2, generator=rng.torch, dtype=torch.float64)
    dst = src + sigma * torch.randn(n_points, 2, generator=rng.torch, dtype=torch.float64)
    k = _tps_kernel(torch.cdist(dst, dst) ** 2)  # [n, n]
    p = torch.cat([torch.ones(n_points, 1, dtype=torch.float64), dst], 1)  # [n, 3]
    system = torch.zeros(n_points + 3, n_points + 3, dtype=torch.float64)
    system[:n_points, :n_points] = k
    system[:n_points, n_points:] = p
    system[n_points:, :n_points] = p.T
    rhs = torch.cat([src, torch.zeros(3, 2, dtype=torch.float64)])
    coef = torch.linalg.lstsq(system, rhs).solution  # [n+3, 2]: radial weights then affine part
    ys = (torch.arange(height, dtype=torch.float64) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float64) + 0.5) / width
    grid = torch.stack(torch.meshgrid(xs, ys, indexing='xy'), -1).reshape(-1, 2)  # [H*W, 2] (x, y)
    u = _tps_kernel(torch.cdist(grid, dst) ** 2)  # [H*W, n]
    basis = torch.cat([u, torch.ones(len(grid), 1, dtype=torch.float64), grid], 1)  # [H*W, n+3]
    source = basis @ coef  # [H*W, 2] in [0, 1] coordinates
    return (source * 2 - 1).reshape(1, height, width, 2).float()


def tps_warp(image: torch.Tensor, mask: torch.Tensor, rng: SampleRng, n_points: int = 12,
             sigma: float = 0.02) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """Random TPS warp of uint8 image [3, H, W] (bilinear, im_mean fill) and mask [1, H, W] (nearest, 0 fill)."""
    grid = tps_grid(image.shape[-2], image.shape[-1], rng, n_points, sigma)
    fill = torch.tensor(IM_MEAN_U8, dtype=torch.float32).view(1, 3, 1, 1)
    im = image.as_subclass(torch.Tensor).float().unsqueeze(0) - fill
    im = F.grid_sample(im, grid, mode='bilinear', padding_mode='zeros', align_corners=False) + fill
    m = F.grid_sample(mask.as_subclass(torch.Tensor).float().unsqueeze(0), grid, mode='nearest',
                      padding_mode='zeros', align_corners=False)
    return (tv_tensors.Image(im[0].round().clamp(0, 255).to(torch.uint8)),
            tv_tensors.Mask(m[0].to(torch.uint8)))
