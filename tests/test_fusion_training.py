"""Fusion training against inference: the trainer feeds FusionNet what InferenceCore feeds it in the same situation,
and a briefly trained network passes agreeing masks through and fuses at least as well as the linear blend."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import train_fusion
from dataset.fusion_dataset import FusionDataset
from util.image_io import read_labels, read_rgb
from dataset.synthetic import SyntheticConfig, generate
from dataset.transforms import normalized_rgb
from inference import InferenceCore
from model.aggregate import aggregate_wbg
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from synthetic_data import write_fusion_tree
from train.tasks.fusion import FusionTraining
from train_helpers import run_dir, save_tiny_propagation
from util.config import CONFIG_DIR, load_config
from util.tensor_util import one_hot
from util.weights import load_network


class RecordingFusionNet(FusionNet):
    """A real FusionNet that also keeps the inputs of every call (the input construction is under test)."""

    def __init__(self):
        super().__init__(width=8)
        self.calls: list[tuple[torch.Tensor, ...]] = []

    def forward(self, im, seg1, seg2, attn, time):
        self.calls.append(tuple(x.detach().clone() for x in (im, seg1, seg2, attn, time)))
        return super().forward(im, seg1, seg2, attn, time)


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
    core.interact(one_hot(_boxes(h, w, 0), 2), a)
    core._set_prob(ti, one_hot(_boxes(h, w, 3), 2))  # a distinct previous result at ti (the random net's are flat)
    round1 = core.prob.clone()  # [K+1, T, 1, H, W]
    new_mask = one_hot(_boxes(h, w, 6), 2)
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


# -- a brief real training run ---------------------------------------------------------------------------------------
REFS = {0: 0, 4: 0, 8: 0}  # references of every video (a propagation drifts DRIFT px per frame from its reference)
DRIFT = 3


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """The fusion recipe (configs/fusion_cpu.yaml, only the crop shrunk to the frames) trained by train_fusion on
    drifting propagations of 12 generated DAVIS-layout train videos (with 4 it learns their objects' looks instead
    of reading the masks), read through a BL30K-layout view; also the held-out val videos' propagations."""
    tmp = tmp_path_factory.mktemp('fusion_learning')
    davis = generate(tmp / 'data', SyntheticConfig(height=64, width=96, static_images=0, vos_videos=0, davis_train=12,
                                                   davis_val=3, davis_frames=9, max_objects=2))['davis']
    vos = tmp / 'bl'  # the recipe reads the BL30K layout: <root>/{JPEGImages,Annotations}/<video>
    for kind in ('JPEGImages', 'Annotations'):
        (vos / kind).parent.mkdir(exist_ok=True)
        (vos / kind).symlink_to(davis / kind / '480p', target_is_directory=True)
    for split in ('train', 'val'):
        for name in (davis / 'ImageSets' / '2017' / f'{split}.txt').read_text().split():
            labels = np.stack([read_labels(p) for p in sorted((vos / 'Annotations' / name).iterdir())])
            write_fusion_tree(tmp / f'fusion_{split}', labels, REFS, video=name, drift=DRIFT)
    prop = save_tiny_propagation(tmp / 'prop.pth')
    torch.manual_seed(0)
    stats = train_fusion.main(['--config', str(CONFIG_DIR / 'fusion_cpu.yaml'), '--load_prop', str(prop),
                               '--bl_root', str(vos), '--fusion_bl_root', str(tmp / 'fusion_train'),
                               '--save_dir', str(tmp / 'saves'), '--device', 'cpu', '--set', 'data.crop=48'])
    iterations = load_config(CONFIG_DIR / 'fusion_cpu.yaml')['train']['iterations']
    (weights,) = run_dir(tmp / 'saves').glob(f'*_{iterations}.pth')
    return load_network('fusion', weights), prop, vos, tmp / 'fusion_val', stats


@torch.no_grad()
def test_trained_fusion_passes_agreeing_masks_through(trained):
    """Old and new masks agree (p 0.95 on a box), no difference to align: the fused mask is that box."""
    net, _, vos, _, _ = trained
    frame = read_rgb(sorted((vos / 'JPEGImages').glob('synth_val_*/00004.jpg'))[0])
    image = normalized_rgb(torch.from_numpy(frame).permute(2, 0, 1))[None]  # [1, 3, 64, 96]
    box = torch.zeros(1, 1, 64, 96)
    box[..., 16:48, 24:72] = 0.95
    for time in ([0.5, 0.5], [0.25, 0.75], [0.75, 0.25]):
        logits = net(image, box, box, torch.zeros(1, 2, 64, 96), torch.tensor([time]))
        fused = aggregate_wbg(torch.sigmoid(logits), keep_bg=True)[1, 0]  # as InferenceCore fuses one object
        assert fused[20:44, 28:68].mean() > 0.8 and fused[box[0, 0] == 0].mean() < 0.1, (time, fused[30, 48])


@torch.no_grad()
def test_trained_fusion_beats_the_linear_blend_and_no_fusion_on_held_out_videos(trained):
    """Held-out frames t between the references: IoU of the fused mask against the ground truth is at least that of
    the distance-weighted blend (--fusion linear) and of the newer propagation alone (--fusion none)."""
    net, prop, vos, fusion_val, _ = trained
    ds = FusionDataset(fusion_val, vos / 'JPEGImages', vos / 'Annotations', size=64, seed=5)
    module = FusionTraining({'width': net.conv1[0].out_channels}, load_network('propagation', prop), 10, 20)
    module.network = net
    ious = {'fused': [], 'linear': [], 'none': []}
    for i in range(120):
        sample = ds[i]
        nc, nr = sample['dist'].tolist()
        if nc + nr > 1 + 1e-6:  # t outside [r1, r2]: never fused at test time
            continue
        batch = {k: v[None] for k, v in sample.items() if k != 'info'}
        gt = sample['gt'][0] > 0.5
        for name, mask in (('fused', module.forward(batch, it=0)['masks'][0, 0]),
                           ('linear', nr * sample['seg1'][0] + nc * sample['seg2'][0]), ('none', sample['seg2'][0])):
            ious[name].append(((mask > 0.5) & gt).sum().item() / max(((mask > 0.5) | gt).sum().item(), 1))
    mean = {k: float(np.mean(v)) for k, v in ious.items()}
    assert len(ious['fused']) >= 20 and mean['fused'] >= mean['linear'] - 0.02 and mean['fused'] > mean['none'], mean
