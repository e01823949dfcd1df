"""RITM's iterative-mask model: [image in 0..1, previous mask] and clicks -> object logits at the input size."""
from __future__ import annotations

import torch
import torch.nn as nn

from model.ritm.clicks import DiskMaps, ScaleLayer
from model.ritm.hrnet import upsample_to
from model.ritm.ocr import HRNetOCR
from util.image import normalize


class HRNetISModel(nn.Module):
    """RITM's HRNetModel with its released options: click maps (and the previous mask) go through
    `maps_transform` and are added to the stem features; `feature_extractor` is HRNet+OCR.

    The constructor takes the `params` of a released checkpoint's config (h18s: width 18, ocr_width 48, small).
    """

    def __init__(self, width: int = 48, ocr_width: int = 256, small: bool = False, with_aux_output: bool = False,
                 use_leaky_relu: bool = False, use_rgb_conv: bool = True, use_disks: bool = False,
                 norm_radius: float = 260, with_prev_mask: bool = False):
        super().__init__()
        if use_rgb_conv:
            raise ValueError('use_rgb_conv=True (the click maps concatenated to the image) is not supported: the '
                             'released iterative-mask HRNet models add them to the stem with maps_transform')
        if ocr_width <= 0:
            raise ValueError(f'ocr_width={ocr_width} is not supported: the released HRNet models have an OCR head')
        self.with_aux_output = with_aux_output
        self.with_prev_mask = with_prev_mask
        maps = 3 if with_prev_mask else 2
        self.maps_transform = nn.Sequential(
            nn.Conv2d(maps, 16, 1), nn.LeakyReLU(0.2) if use_leaky_relu else nn.ReLU(inplace=True),
            nn.Conv2d(16, 64, 3, stride=2, padding=1), ScaleLayer(0.05))
        self.dist_maps = DiskMaps(norm_radius, use_disks)
        self.feature_extractor = HRNetOCR(width, ocr_width, small)

    @property
    def feature_channels(self) -> int:
        """Channels of the HRNet features that f-BRS scales and shifts (15 * width)."""
        return self.feature_extractor.out_channels

    def backbone_features(self, x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """x [B, 3(+1), H, W] (RGB in 0..1, previous mask), points [B, 2P, 3] -> HRNet features [B, 15w, H/4, W/4]."""
        if x.shape[1] != 3 + self.with_prev_mask:
            raise ValueError(f'expected {3 + self.with_prev_mask} input channels (RGB'
                             f'{" + previous mask" if self.with_prev_mask else ""}), got {x.shape[1]}')
        image = normalize(x[:, :3])
        maps = self.dist_maps(points, x.shape[2], x.shape[3])
        if self.with_prev_mask:
            maps = torch.cat([x[:, 3:], maps], dim=1)
        return self.feature_extractor.features(image, self.maps_transform(maps))

    def head(self, feats: torch.Tensor, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """HRNet features -> {'instances', 'instances_aux'} logits upsampled to size."""
        out, aux = self.feature_extractor.head(feats)
        result = {'instances': upsample_to(out, size)}
        if self.with_aux_output:
            result['instances_aux'] = upsample_to(aux, size)
        return result

    def forward(self, x: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.backbone_features(x, points), x.shape[-2:])
