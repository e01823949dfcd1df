"""Object-contextual representations (Yuan et al. 2020) head on HRNet, as RITM uses it with one class."""
from __future__ import annotations

import torch
import torch.nn as nn

from model.resnet import conv
from model.ritm.hrnet import HRNet, concat_resolutions


def conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    """1x1 conv (no bias) and a (BN, ReLU) pair, laid out as the released checkpoints' f_pixel / f_object."""
    return [conv(cin, cout, 1), nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU(inplace=True))]


def gather_context(feats: torch.Tensor, class_logits: torch.Tensor) -> torch.Tensor:
    """Class centres: features averaged with a spatial softmax of each class map -> [B, C, K, 1]."""
    b, k = class_logits.shape[:2]
    weights = torch.softmax(class_logits.reshape(b, k, -1), dim=2)  # [B, K, HW]
    centres = weights @ feats.reshape(b, feats.shape[1], -1).transpose(1, 2)  # [B, K, C]
    return centres.transpose(1, 2).unsqueeze(3)


class ObjectAttention(nn.Module):
    """Every pixel attends over the class centres (keys and values from them) and maps the result back to C."""

    def __init__(self, channels: int, key_channels: int):
        super().__init__()
        self.key_channels = key_channels
        self.f_pixel = nn.Sequential(*conv_bn_relu(channels, key_channels), *conv_bn_relu(key_channels, key_channels))
        self.f_object = nn.Sequential(*conv_bn_relu(channels, key_channels), *conv_bn_relu(key_channels, key_channels))
        self.f_down = nn.Sequential(*conv_bn_relu(channels, key_channels))
        self.f_up = nn.Sequential(*conv_bn_relu(key_channels, channels))

    def forward(self, feats: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        b, _, h, w = feats.shape
        query = self.f_pixel(feats).reshape(b, self.key_channels, -1).transpose(1, 2)  # [B, HW, key]
        key = self.f_object(centres).reshape(b, self.key_channels, -1)  # [B, key, K]
        value = self.f_down(centres).reshape(b, self.key_channels, -1).transpose(1, 2)  # [B, K, key]
        attention = torch.softmax(self.key_channels ** -0.5 * (query @ key), dim=-1)
        context = (attention @ value).transpose(1, 2).reshape(b, self.key_channels, h, w)
        return self.f_up(context)


class SpatialOCR(nn.Module):
    """Object context concatenated with the pixel features, fused by a 1x1 conv-BN-ReLU (dropout in training)."""

    def __init__(self, channels: int, key_channels: int, dropout: float = 0.05):
        super().__init__()
        self.object_context_block = ObjectAttention(channels, key_channels)
        self.conv_bn_dropout = nn.Sequential(*conv_bn_relu(2 * channels, channels), nn.Dropout2d(dropout))

    def forward(self, feats: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        context = self.object_context_block(feats, centres)
        return self.conv_bn_dropout(torch.cat([context, feats], dim=1))


class HRNetOCR(HRNet):
    """HRNet backbone plus the OCR head: `features` is the backbone (the f-BRS insertion point), `head` the rest."""

    def __init__(self, width: int, ocr_width: int, small: bool):
        super().__init__(width, small)
        c, mid = self.out_channels, 2 * ocr_width
        self.conv3x3_ocr = nn.Sequential(conv(c, mid, 3, bias=True), nn.BatchNorm2d(mid), nn.ReLU(inplace=True))
        self.ocr_distri_head = SpatialOCR(mid, ocr_width)
        self.cls_head = conv(mid, 1, 1, bias=True)
        self.aux_head = nn.Sequential(conv(c, c, 1, bias=True), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                                      conv(c, 1, 1, bias=True))

    def features(self, x: torch.Tensor, click_features: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised image (+ click features at stride 2) -> concatenated HRNet features [B, 15w, H/4, W/4]."""
        return concat_resolutions(super().forward(x, click_features))

    def head(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """HRNet features -> (OCR logits, auxiliary logits), both [B, 1, H/4, W/4]."""
        aux = self.aux_head(feats)
        feats = self.conv3x3_ocr(feats)
        feats = self.ocr_distri_head(feats, gather_context(feats, aux))
        return self.cls_head(feats), aux

    def forward(self, x: torch.Tensor, click_features: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.features(x, click_features))
