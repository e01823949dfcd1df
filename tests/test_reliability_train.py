"""Issue 18, training: NaN stops the run without poisoning checkpoints, --resume applies or refuses changed
settings, bad settings are one-line errors, empty targets are caught, run folders are never shared."""
import logging

import pytest
import torch

import train_prop
from train.loop import claim_run_dir
from train_helpers import run_dir, tiny_args
from util.cli import run_main
from util.config import ConfigError


def test_nan_loss_stops_naming_the_iteration_and_keeps_the_last_good_checkpoint(tmp_path):
    args = tiny_args('prop_static_cpu.yaml', 'nan_from_iteration_2', tmp_path, iterations=4,
                     extra=('--set', 'log.save_interval=1'))
    with pytest.raises(ValueError, match='non-finite loss or gradient .* at iteration 2 .*Lower the learning rate'):
        train_prop.main(args)
    ckpt = torch.load(run_dir(tmp_path) / 'prop_static_cpu_checkpoint.pth', weights_only=True)
    assert ckpt['it'] == 1
    assert all(v.isfinite().all() for v in ckpt['network'].values() if v.is_floating_point())
    assert sorted(p.name for p in run_dir(tmp_path).glob('*.pth')) == ['prop_static_cpu_1.pth',
                                                                      'prop_static_cpu_checkpoint.pth']


def test_resume_applies_a_changed_learning_rate_refuses_what_it_cannot_honour(tmp_path, caplog):
    train_prop.main(tiny_args('prop_static_cpu.yaml', 'static_videos', tmp_path, iterations=2, extra=('--stop_at', '1')))
    ckpt = run_dir(tmp_path) / 'prop_static_cpu_checkpoint.pth'
    with pytest.raises(ConfigError, match=r'--resume cannot change train.batch_size: 2 -> 4 .*--load-network'):
        train_prop.main(['--resume', str(ckpt), '-b', '4'])
    with pytest.raises(ConfigError, match=r'--resume cannot change train.seed'):
        train_prop.main(['--resume', str(ckpt), '--set', 'train.seed=1'])
    with caplog.at_level(logging.WARNING):  # no recipe flags: the checkpoint's settings (tiny model, factory data)
        train_prop.main(['--resume', str(ckpt), '--lr', '0.5', '--set', 'train.steps=[1]', '--set', 'train.gamma=0.5'])
    assert "lr 0.0005 -> 0.5" in caplog.text and 'the learning rate is now 0.25 at iteration 1' in caplog.text
    saved = torch.load(ckpt, weights_only=True)
    assert saved['it'] == 2 and saved['config']['train']['lr'] == 0.5
    assert saved['optimizer']['param_groups'][0]['lr'] == 0.25  # 0.5 * gamma 0.5 after milestone 1
    assert saved['optimizer']['param_groups'][0]['initial_lr'] == 0.5


@pytest.mark.parametrize('flags,match', [
    (['-b', '0'], 'train.batch_size must be a whole number >= 1, got 0'),
    (['-b', '1000'], 'fewer than one global batch of 1000'),
    (['--lr', '-1'], 'train.lr must be a number > 0, got -1.0'),
    (['--set', 'train.lr=abc'], "train.lr must be a number > 0, got 'abc'"),
    (['--set', 'train.iterations=2.5'], 'train.iterations must be a whole number'),
    (['--num_workers', '-2'], 'data.num_workers must be a whole number >= 0'),
])
def test_bad_training_settings_are_one_line_errors(tmp_path, capsys, flags, match):
    with pytest.raises(SystemExit) as e:
        run_main(train_prop.main, tiny_args('prop_static_cpu.yaml', 'static_videos', tmp_path, iterations=1) + flags)
    err = capsys.readouterr().err
    assert e.value.code == 2 and match in err and err.count('\n') == 1 and 'Traceback' not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_cuda_training_without_gpu_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_main(train_prop.main, tiny_args('prop_static_cpu.yaml', 'static_videos', tmp_path, iterations=1)
                 + ['--device', 'cuda'])
    assert 'CUDA is not available on this machine; use --device cpu' in capsys.readouterr().err


def test_training_on_empty_targets_stops_instead_of_reporting_iou_1(tmp_path):
    with pytest.raises(ValueError, match='every one of the first 8 training samples has an empty target'):
        train_prop.main(tiny_args('prop_static_cpu.yaml', 'empty_targets', tmp_path, iterations=3, batch=8))


def test_runs_started_in_the_same_second_with_one_id_get_their_own_folders(tmp_path):
    folder = tmp_path / '2026-01-01_00.00.00_x'
    assert claim_run_dir(folder, resume=False) == folder
    assert claim_run_dir(folder, resume=False) == tmp_path / '2026-01-01_00.00.00_x_2'
    assert claim_run_dir(folder, resume=True) == folder
