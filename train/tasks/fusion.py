"""Fusion training forward (docs/mivos.md): frozen propagation encoders -> aligned difference maps -> FusionNet.

For each object o: the memory key of the newer interaction's frame r2 is encoded with its ground truth (others =
the other object's ground truth); D+ = (GT - old)_+, D- = (old - GT)_+ at r2 are aligned to the target frame t
(PropagationNetwork.get_attention); FusionNet sees frame t, both propagations at t, A+/A- and [nc, nr].
"""
from __future__ import annotations

import torch
import torch.nn as nn

from model.aggregate import aggregate_wbg_channel
from model.fusion import FusionNet
from model.losses import BootstrappedCE
from train.loop import TrainModule
from train.objectives import image_grid, mask_iou, per_sample_bootstrapped_ce


class FusionTraining(TrainModule):
    """FusionNet trained on the attention maps of a frozen propagation network (eval, no gradients)."""

    def __init__(self, model_kwargs: dict, prop_net: nn.Module, start_warm: int, end_warm: int,
                 top_p: float = 0.15):
        super().__init__()
        self.model_kwargs = dict(model_kwargs)
        self.network = FusionNet(**model_kwargs)
        self.prop_net = prop_net.requires_grad_(False)
        self.criterion = BootstrappedCE(start_warm, end_warm, top_p=top_p)

    def train(self, mode: bool = True) -> 'FusionTraining':
        super().train(mode)
        self.prop_net.eval()
        return self

    @torch.no_grad()
    def attention(self, ref_im: torch.Tensor, ref_gt: torch.Tensor, ref_other_gt: torch.Tensor,
                  ref_old: torch.Tensor, qk16: torch.Tensor) -> torch.Tensor:
        """[A+, A-] [B,2,H,W]: difference maps at r2 aligned to the target frame."""
        net = self.prop_net
        f16 = net.mask_rgb_encoder(ref_im, ref_gt, None if net.single_object else ref_other_gt)
        mk16 = net.kv_m_f16(f16)[0].unsqueeze(2)  # [B, Ck, 1, h, w]
        pos, neg = (ref_gt - ref_old).clamp(0, 1), (ref_old - ref_gt).clamp(0, 1)  # D+, D-
        return net.get_attention(mk16, pos, neg, qk16)

    def forward(self, batch: dict, it: int) -> dict[str, torch.Tensor]:
        rgb, selector = batch['rgb'], batch['selector']  # [B,3,H,W], [B,2]
        b = rgb.shape[0]
        with torch.no_grad():
            qk16 = self.prop_net.get_query_values(rgb)[3]  # [B, Ck, h, w]
        probs = []
        for own, other in (('', 'sec_'), ('sec_', '')):
            attn = self.attention(batch['src2_ref_im'], batch[f'{own}src2_ref_gt'], batch[f'{other}src2_ref_gt'],
                                  batch[f'{own}src2_ref'], qk16)
            logits = self.network(rgb, batch[f'{own}seg1'], batch[f'{own}seg2'], attn, batch['dist'])
            probs.append(torch.sigmoid(logits))
        prob = torch.cat(probs, dim=1) * selector.view(b, 2, 1, 1)  # [B, 2, H, W]; absent object -> 0
        agg_logits, agg_prob = aggregate_wbg_channel(prob, keep_bg=True)  # [B, 3, H, W]
        loss, p = per_sample_bootstrapped_ce(self.criterion, agg_logits, batch['cls_gt'], selector, it)
        iou = mask_iou(agg_prob[:, 1:2] > 0.5, batch['gt'] > 0.5)
        return {'loss': loss, 'iou': iou.detach(), 'p': torch.tensor(p), 'masks': agg_prob[:, 1:2].detach()}

    def image_grid(self, batch: dict, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per sample: frame t, old and new propagations, ground truth, fused prediction (first object)."""
        return image_grid(batch['rgb'], [batch['seg1'], batch['seg2'], batch['gt'], out['masks']])
