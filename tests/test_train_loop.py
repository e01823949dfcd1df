"""The shared training loop: checkpoint format, exact resume, BN rules, curriculum, sampler, bad input."""
import numpy as np
import pytest
import torch

import train_prop
import train_s2m
from train.distributed import DistEnv
from train.loop import max_skip_for_epoch
from train.sampling import EpochSampler
from tests.train_data import LAST_CURRICULUM
from train_helpers import run_dir, tiny_args
from util.weights import load_network


def test_max_skip_curriculum_follows_the_epoch_fractions_of_the_original():
    curriculum = {'max_skip': [5, 10, 15, 20, 25, 5], 'at': [0.1, 0.2, 0.3, 0.4, 0.8]}
    skips = [max_skip_for_epoch(curriculum, e, 100) for e in range(100)]
    assert skips[:10] == [5] * 10 and skips[10:20] == [10] * 10 and skips[20:30] == [15] * 10
    assert skips[30:40] == [20] * 10 and skips[40:80] == [25] * 40 and skips[80:] == [5] * 20


def test_sampler_splits_each_epoch_over_processes_and_can_start_mid_epoch():
    envs = [DistEnv(r, 2, r, torch.device('cpu')) for r in range(2)]
    samplers = [EpochSampler(11, env, seed=3) for env in envs]
    epoch0 = [list(s) for s in samplers]
    assert sorted(i for part in epoch0 for i, _ in part) == sorted(set(i for part in epoch0 for i, _ in part))
    assert all(len(part) == 5 for part in epoch0)
    samplers[0].set_epoch(1)
    assert [i for i, _ in samplers[0]] != [i for i, _ in epoch0[0]]
    samplers[1].set_epoch(0, start=2)
    assert list(samplers[1]) == epoch0[1][2:]


def test_checkpoints_are_self_describing_and_load_as_light_networks(tmp_path):
    result = train_prop.main(tiny_args('prop_static_cpu.yaml', 'static_videos', tmp_path, iterations=2))
    folder = run_dir(tmp_path)
    assert {'loss', 'iou', 'lr', 'p'} <= set(result)
    ckpt = torch.load(folder / 'prop_static_cpu_checkpoint.pth', weights_only=True)
    assert {'network', 'model_kwargs', 'config', 'it', 'optimizer', 'scheduler', 'rng', 'curriculum', 'git',
            'versions'} <= set(ckpt)
    assert ckpt['it'] == 2 and ckpt['config']['train']['iterations'] == 2 and ckpt['versions']['torch']
    assert not any(k.startswith('module.') for k in ckpt['network'])
    net = load_network('propagation', folder / 'prop_static_cpu_2.pth')
    assert net.single_object and net.kv_m_f16.key_proj.out_channels == 16
    assert list(folder.glob('events.out.tfevents.*'))


def test_propagation_trains_with_frozen_bn_statistics_but_trainable_bn_affine(tmp_path):
    train_prop.main(tiny_args('prop_bl30k_cpu.yaml', 'videos', tmp_path, iterations=2,
                              extra=('--set', 'train.frozen_bn=true')))
    sd = torch.load(run_dir(tmp_path) / 'prop_bl30k_cpu_2.pth', weights_only=True)['network']
    assert torch.equal(sd['rgb_encoder.bn1.running_mean'], torch.zeros_like(sd['rgb_encoder.bn1.running_mean']))
    assert torch.equal(sd['rgb_encoder.bn1.running_var'], torch.ones_like(sd['rgb_encoder.bn1.running_var']))
    assert int(sd['mask_rgb_encoder.bn1.num_batches_tracked']) == 0
    assert not torch.equal(sd['rgb_encoder.bn1.weight'], torch.ones_like(sd['rgb_encoder.bn1.weight']))


def test_from_scratch_cpu_recipe_trains_propagation_bn_statistics(tmp_path):
    train_prop.main(tiny_args('prop_bl30k_cpu.yaml', 'videos', tmp_path, iterations=2))
    sd = torch.load(run_dir(tmp_path) / 'prop_bl30k_cpu_2.pth', weights_only=True)['network']
    assert int(sd['mask_rgb_encoder.bn1.num_batches_tracked']) == 4  # frames 0 and 1 memorised per iteration
    assert not torch.equal(sd['rgb_encoder.bn1.running_mean'], torch.zeros_like(sd['rgb_encoder.bn1.running_mean']))


def test_s2m_trains_its_batch_norm_statistics(tmp_path):
    train_s2m.main(tiny_args('s2m_cpu.yaml', 'interactions', tmp_path, iterations=2))
    sd = torch.load(run_dir(tmp_path) / 's2m_cpu_2.pth', weights_only=True)['network']
    assert int(sd['backbone.bn1.num_batches_tracked']) == 2
    assert not torch.equal(sd['backbone.bn1.running_mean'], torch.zeros(64))


def test_resumed_training_continues_exactly_as_an_uninterrupted_run(tmp_path):
    """4 iterations at once == 2 + resume + 2 (crossing an epoch of 3 iterations, with the max-skip curriculum)."""
    once, split = tmp_path / 'once', tmp_path / 'split'
    train_prop.main(tiny_args('prop_bl30k_cpu.yaml', 'few_videos', once, iterations=4))
    skips_once = LAST_CURRICULUM[0].max_skips
    train_prop.main(tiny_args('prop_bl30k_cpu.yaml', 'few_videos', split, iterations=4, extra=('--stop_at', '2')))
    ckpt = run_dir(split) / 'prop_bl30k_cpu_checkpoint.pth'
    assert torch.load(ckpt, weights_only=True)['it'] == 2
    train_prop.main(tiny_args('prop_bl30k_cpu.yaml', 'few_videos', split, iterations=4, extra=('--resume', str(ckpt))))
    skips_split = LAST_CURRICULUM[0].max_skips
    a = torch.load(run_dir(once) / 'prop_bl30k_cpu_checkpoint.pth', weights_only=True)
    b = torch.load(ckpt, weights_only=True)
    assert a['it'] == b['it'] == 4 and a['curriculum'] == b['curriculum']
    for k, v in a['network'].items():
        assert torch.equal(v, b['network'][k]), k
    assert torch.equal(a['optimizer']['state'][0]['exp_avg'], b['optimizer']['state'][0]['exp_avg'])
    assert a['scheduler'] == b['scheduler']
    assert skips_once[-1] == skips_split[-1] and len(set(skips_once)) == 2  # the curriculum moved on at epoch 1
    assert not np.array_equal(a['rng']['numpy']['keys'].numpy(), np.zeros(624))


def test_missing_data_folder_fails_at_once_naming_the_flag(tmp_path):
    missing = tmp_path / 'no_such_BL30K'
    with pytest.raises((ValueError, OSError), match=f'--bl-root {missing} is not a folder'):
        train_prop.main(['--stage', 'bl30k', '--bl_root', str(missing)])


def test_resume_rejects_corrupt_weight_only_and_mismatched_checkpoints(tmp_path):
    corrupt = tmp_path / 'corrupt_checkpoint.pth'
    corrupt.write_bytes(b'not a checkpoint')
    base = tiny_args('prop_bl30k_cpu.yaml', 'videos', tmp_path / 'runs', iterations=1)
    with pytest.raises((ValueError, OSError), match='cannot read checkpoint .*corrupt_checkpoint.pth'):
        train_prop.main(base + ['--resume', str(corrupt)])
    train_prop.main(base)
    folder = run_dir(tmp_path / 'runs')
    with pytest.raises((ValueError, OSError), match='not a full training checkpoint.*--load-network'):
        train_prop.main(base + ['--resume', str(folder / 'prop_bl30k_cpu_1.pth')])
    with pytest.raises((ValueError, OSError), match="holds a model built with .*'key_dim': 16.*'key_dim': 8"):
        train_prop.main(base + ['--resume', str(folder / 'prop_bl30k_cpu_checkpoint.pth'), '--set', 'model.key_dim=8'])
    with pytest.raises((ValueError, OSError), match="written by the 'propagation' trainer, not 's2m'"):
        train_s2m.main(tiny_args('s2m_cpu.yaml', 'interactions', tmp_path / 's2m', iterations=1)
                       + ['--resume', str(folder / 'prop_bl30k_cpu_checkpoint.pth')])
