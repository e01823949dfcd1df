"""S2M training forward (docs/mivos.md): one pass of [image, previous mask, positive, negative] -> mask.

BN is trained (train() mode); under DDP on CUDA it is converted to SyncBatchNorm by the builder.
"""
from __future__ import annotations

import torch

from model.aggregate import aggregate_wbg_channel
from model.losses import BootstrappedCE
from model.s2m import S2M
from train.loop import TrainModule
from train.objectives import image_grid, mask_iou


class S2MTraining(TrainModule):
    """S2M with the bootstrapped CE on the 2-class [bg, object] logits of its single sigmoid."""

    def __init__(self, model_kwargs: dict, start_warm: int, end_warm: int, top_p: float = 0.15):
        super().__init__()
        self.model_kwargs = dict(model_kwargs)
        self.network = S2M(**model_kwargs)
        self.criterion = BootstrappedCE(start_warm, end_warm, top_p=top_p)

    def forward(self, batch: dict, it: int) -> dict[str, torch.Tensor]:
        x = torch.cat([batch['rgb'], batch['prev'], batch['pos'], batch['neg']], dim=1)  # [B, 6, H, W]
        prob = torch.sigmoid(self.network(x))  # [B, 1, H, W]
        logits, probs = aggregate_wbg_channel(prob, keep_bg=True)  # [B, 2, H, W]
        gt = batch['gt'] > 0.5
        loss, p = self.criterion(logits, gt[:, 0].long(), it)
        iou = mask_iou(probs[:, 1:] > 0.5, gt)
        return {'loss': loss, 'iou': iou.detach(), 'p': torch.tensor(float(p)), 'masks': probs[:, 1:].detach()}

    def image_grid(self, batch: dict, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per sample: image, previous mask, positive and negative interactions, ground truth, prediction."""
        return image_grid(batch['rgb'], [batch['prev'], batch['pos'], batch['neg'], batch['gt'], out['masks']])
