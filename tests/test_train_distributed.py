"""Each trainer under `torchrun --nproc_per_node 2` (gloo, CPU) writes a checkpoint and tensorboard events."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train_helpers import run_dir, save_tiny_propagation, tiny_args

ROOT = Path(__file__).resolve().parents[1]


def torchrun(script: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
           str(ROOT / script)] + args
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('script,config,factory,prefix', [
    ('train_prop.py', 'prop_bl30k_cpu.yaml', 'videos', 'prop_bl30k_cpu'),
    ('train_s2m.py', 's2m_cpu.yaml', 'interactions', 's2m_cpu'),
    ('train_fusion.py', 'fusion_cpu.yaml', 'fusion', 'fusion_cpu')])
def test_two_process_gloo_run_saves_a_checkpoint_and_tensorboard_events(tmp_path, script, config, factory, prefix):
    extra = ('--load_prop', str(save_tiny_propagation(tmp_path / 'prop.pth'))) if script == 'train_fusion.py' else ()
    result = torchrun(script, tiny_args(config, factory, tmp_path / 'saves', iterations=2, batch=4, extra=extra),
                      tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = run_dir(tmp_path / 'saves')
    ckpt = torch.load(folder / f'{prefix}_checkpoint.pth', weights_only=True)
    assert ckpt['it'] == 2 and ckpt['world_size'] == 2
    assert sorted(p.name for p in folder.glob('*.pth')) == [f'{prefix}_2.pth', f'{prefix}_checkpoint.pth']
    assert len(list(folder.glob('events.out.tfevents.*'))) == 1  # rank 0 only
