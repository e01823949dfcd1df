"""Propagation training forward (docs/mivos.md): 3 frames, up to 2 objects, full-softmax memory reads.

Frame 0 with its ground truth is memorised; frame 1 is segmented from it; frame 1 is memorised with the
predicted soft masks (gradients flow through them); frame 2 is segmented from the memory of frames 0 and 1.
Loss = bootstrapped CE(frame 1) + bootstrapped CE(frame 2).
"""
from __future__ import annotations

import torch

from model.aggregate import aggregate_wbg_channel
from model.losses import BootstrappedCE
from model.propagation import PropagationNetwork
from train.loop import TrainModule
from train.objectives import image_grid, mask_iou, per_sample_bootstrapped_ce

QueryFeatures = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class PropagationTraining(TrainModule):
    """PropagationNetwork in its training configuration: eval()-mode BN (statistics frozen at their ImageNet
    values, affine parameters trained) and no top-k in the memory read.

    frozen_bn=False trains BN statistics too: for networks trained from scratch (the CPU quickstart recipes),
    where frozen default statistics (mean 0, var 1) leave the deep encoders unnormalised and learning stalls.
    """

    def __init__(self, model_kwargs: dict, start_warm: int, end_warm: int, top_p: float = 0.15,
                 frozen_bn: bool = True):
        super().__init__()
        self.frozen_bn = frozen_bn
        self.model_kwargs = dict(model_kwargs)
        self.network = PropagationNetwork(**model_kwargs)
        self.network.memory.top_k = None  # training reads with the plain softmax (docs/mivos.md)
        self.criterion = BootstrappedCE(start_warm, end_warm, top_p=top_p)

    def train(self, mode: bool = True) -> 'PropagationTraining':
        super().train(mode)
        if self.frozen_bn:
            self.network.eval()  # BN running statistics stay frozen during training
        return self

    def memorize(self, frames: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames [B,3,H,W], masks [B,K,H,W] -> keys [B*K,Ck,1,h,w], values [B*K,Cv,1,h,w] (sample-major).

        As PropagationNetwork.memorize but batched over samples: object k is encoded with its own mask and the
        sum of the other objects' masks as "others".
        """
        net = self.network
        b, k, h, w = masks.shape
        images = frames.repeat_interleave(k, dim=0)  # [B*K, 3, H, W]
        own = masks.reshape(b * k, 1, h, w)
        others = None if net.single_object else (masks.sum(dim=1, keepdim=True) - masks).reshape(b * k, 1, h, w)
        k16, v16 = net.kv_m_f16(net.mask_rgb_encoder(images, own, others))
        return k16.unsqueeze(2), v16.unsqueeze(2)

    def segment(self, keys: torch.Tensor, values: torch.Tensor, query: QueryFeatures, k: int) -> torch.Tensor:
        """Memory of B*K objects and query features of B frames -> per-object logits [B,K,H,W]."""
        f8, f4, k16, v16 = (x.repeat_interleave(k, dim=0) for x in query)  # [B*K, ...]
        logits = self.network.segment_logits(keys, values, f8, f4, k16, v16)  # [B*K, 1, H, W]
        return logits.view(-1, k, *logits.shape[-2:])

    def forward(self, batch: dict, it: int) -> dict[str, torch.Tensor]:
        rgb = batch['rgb']  # [B, 3 frames, 3, H, W]
        b = rgb.shape[0]
        gt = batch['gt'][:, :, 0]  # [B, 3, H, W]
        cls_gt = batch['cls_gt'] if 'cls_gt' in batch else (gt > 0.5).long()
        if self.network.single_object:
            masks0, selector = gt[:, :1], None
            obj_weight = torch.ones(b, 1, 1, 1, device=rgb.device)
        else:
            masks0 = torch.stack([gt[:, 0], batch['sec_gt'][:, 0, 0]], dim=1)  # [B, 2, H, W]
            selector = batch['selector']  # [B, 2]
            obj_weight = selector.view(b, 2, 1, 1)
        k = masks0.shape[1]

        _, f8, f4, k16, v16 = self.network.get_query_values(rgb[:, 1:].flatten(0, 1))  # frames 1, 2: [B*2, ...]
        query = [tuple(x.view(b, 2, *x.shape[1:])[:, t] for x in (f8, f4, k16, v16)) for t in range(2)]

        keys, values = self.memorize(rgb[:, 0], masks0)  # [B*K, C, 1, h, w]
        agg_logits, probs = [], []
        for t in range(2):  # frames 1 and 2
            prob = torch.sigmoid(self.segment(keys, values, query[t], k)) * obj_weight  # absent object -> 0
            logits_t, prob_t = aggregate_wbg_channel(prob, keep_bg=True)  # [B, K+1, H, W]
            agg_logits.append(logits_t)
            probs.append(prob_t)
            if t == 0:
                new_k, new_v = self.memorize(rgb[:, 1], prob_t[:, 1:])
                keys, values = torch.cat([keys, new_k], dim=2), torch.cat([values, new_v], dim=2)  # T = 2

        loss, p = 0, 1.0
        for t in range(2):
            loss_t, p = per_sample_bootstrapped_ce(self.criterion, agg_logits[t], cls_gt[:, t + 1], selector, it)
            loss = loss + loss_t
        pred = torch.stack([pr[:, 1] > 0.5 for pr in probs], dim=1)  # first object, frames 1-2: [B, 2, H, W]
        iou = mask_iou(pred, gt[:, 1:] > 0.5)
        return {'loss': loss, 'iou': iou.detach(), 'p': torch.tensor(p), 'masks': torch.stack(probs, 1).detach()}

    def image_grid(self, batch: dict, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per sample: frame 2, its ground truth and the predicted first object."""
        return image_grid(batch['rgb'][:, 2], [batch['gt'][:, 2], out['masks'][:, 1, 1:2]])
