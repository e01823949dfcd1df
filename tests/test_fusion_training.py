"""Fusion training against inference: the trainer feeds FusionNet what InferenceCore feeds it in the same situation,
and a briefly trained network passes agreeing masks through and fuses at least as well as the linear blend."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from inference import InferenceCore
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from train.tasks.fusion import FusionTraining


class RecordingFusionNet(FusionNet):
    """A real FusionNet that also keeps the inputs of every call (the input construction is under test)."""

    def __init__(self):
        super().__init__(width=8)
        self.calls: list[tuple[torch.Tensor, ...]] = []

    def forward(self, im, seg1, seg2, attn, time):
        self.calls.append(tuple(x.detach().clone() for x in (im, seg1, seg2, attn, time)))
        return super().forward(im, seg1, seg2, attn, time)


def _one_hot(labels: torch.Tensor, k: int) -> torch.Tensor:
    return F.one_hot(labels, k + 1).permute(2, 0, 1).unsqueeze(1).float()  # [K+1, 1, H, W]


def _boxes(h: int, w: int, shift: int) -> torch.Tensor:
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[8:24, 8 + shift:28 + shift] = 1
    labels[28:44, 30 + shift:52 + shift] = 2
    return labels


@torch.no_grad()
def test_the_trainer_feeds_fusion_what_inference_feeds_it_in_the_same_situation():
    """Interaction at frame a, then at b: InferenceCore fuses frame ti from (prob of round 1, propagation of round 2,
    A+/A- of the memory key of b, [nc, nr]). The trainer, given the same frames and masks as a sample (r1 = a,
    r2 = b, t = ti, two objects), must build identical FusionNet inputs for both objects."""
    torch.manual_seed(0)
    prop = PropagationNetwork(arch='resnet18', key_dim=16, value_dim=32, decoder_dims=(32, 16, 16)).eval()
    t, h, w, a, b, ti = 7, 48, 64, 0, 6, 2
    frames = torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    inference_net = RecordingFusionNet().eval()
    core = InferenceCore(prop, inference_net, frames, 2, optimize=False, prob_storage='float32')
    core.interact(_one_hot(_boxes(h, w, 0), 2), a)
    core._set_prob(ti, _one_hot(_boxes(h, w, 3), 2))  # a distinct previous result at ti (the random net's are flat)
    round1 = core.prob.clone()  # [K+1, T, 1, H, W]
    new_mask = _one_hot(_boxes(h, w, 6), 2)
    core.interact(new_mask, b)
    fused_frames = list(range(b - 1, a, -1))  # the backward pass from b fuses b-1 .. a+1
    inference = inference_net.calls[fused_frames.index(ti)]

    training = FusionTraining({'width': 8}, prop, start_warm=10, end_warm=20)
    training.network = RecordingFusionNet().eval()
    sample = {'rgb': core.frame(ti), 'src2_ref_im': core.frame(b),
              'dist': torch.tensor([[abs(a - ti), abs(b - ti)]]) / abs(a - b), 'selector': torch.ones(1, 2), 'cls_gt': torch.zeros(1, h, w, dtype=torch.long),
              'gt': torch.zeros(1, 1, h, w)}
    for prefix, obj in (('', 1), ('sec_', 2)):
        sample |= {f'{prefix}seg1': round1[obj:obj + 1, ti], f'{prefix}src2_ref': round1[obj:obj + 1, b],
                   f'{prefix}src2_ref_gt': new_mask[obj:obj + 1], f'{prefix}seg2': inference[2][obj - 1:obj]}
    training.forward(sample, it=0)
    for obj, call in enumerate(training.network.calls):
        for name, got, want in zip(('image', 'seg1 (old)', 'seg2 (new)', 'A+/A-', '[nc, nr]'), call, inference):
            assert torch.allclose(got, want[obj:obj + 1], atol=1e-5), f'object {obj + 1}: {name} differs'
    assert torch.allclose(inference[1], round1[1:, ti])  # seg1 is the previous round's result at ti
    assert (inference[1] - inference[2]).abs().max() > 0.1 and inference[3].amax(dim=(0, 2, 3)).min() > 0.01
