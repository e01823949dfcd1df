#!/usr/bin/env python
"""The whole MiVOS pipeline on built-in synthetic data, on a CPU, in minutes (`make quickstart`).

Generates the synthetic sets, trains propagation (static -> two-object stage), S2M and fusion with the CPU recipes,
evaluates semi-supervised propagation on held-out sequences against the copy-first-mask baseline and the untrained
network, runs the real DAVIS interactive robot with scribbles and with clicks, and prints one table. Everything goes
under --output (default runs/quickstart). `--fast` is the ~3-minute smoke version the tests run.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import eval_interactive_davis  # noqa: E402
import eval_semi_davis  # noqa: E402
import train_fusion  # noqa: E402
import train_prop  # noqa: E402
import train_s2m  # noqa: E402
from dataset.davis_reader import DAVISTestDataset  # noqa: E402
from dataset.synthetic import SyntheticConfig, generate  # noqa: E402
from model.propagation import PropagationNetwork  # noqa: E402
from scripts import generate_fusion_data  # noqa: E402
from util.cli import run_main  # noqa: E402
from util.config import load_config  # noqa: E402
from util.palette import read_labels, write_labels  # noqa: E402
from util.video import overlay, write_video  # noqa: E402

log = logging.getLogger('quickstart')


@dataclass(frozen=True)
class Plan:
    """Sizes of one quickstart run: data, iterations per trainer, evaluation rounds."""
    data: SyntheticConfig
    prop_static_its: int
    prop_video_its: int
    s2m_its: int
    fusion_its: int
    rounds: int
    estimate_min: float


# salient=True: objects in saturated colours on desaturated backgrounds and clutter (same shapes and motion as the
# default look, so the copy-first-mask baseline is unchanged), which from-scratch networks learn in CPU minutes.
FULL = Plan(SyntheticConfig(height=120, width=216, static_images=200, vos_videos=40, vos_frames=16, davis_train=3,
                            davis_val=4, davis_frames=16, max_objects=2, salient=True),
            prop_static_its=100, prop_video_its=300, s2m_its=100, fusion_its=300, rounds=8, estimate_min=13)
# Fusion learns from the propagations of this many training videos: with the 3 DAVIS-layout train videos it learned
# their objects' looks instead of reading the masks (interactive rounds 6-8 below --fusion linear).
FUSION_VIDEOS = 12
FAST = Plan(SyntheticConfig(height=96, width=160, static_images=24, vos_videos=8, vos_frames=10, davis_train=2,
                            davis_val=2, davis_frames=8, max_objects=2, salient=True),
            prop_static_its=20, prop_video_its=30, s2m_its=20, fusion_its=10, rounds=3, estimate_min=3)


def final_weights(save_dir: Path, run_id: str, iterations: int) -> Path:
    """The weights file a trainer wrote at its last iteration."""
    found = sorted(glob.glob(str(save_dir / f'*_{run_id}' / f'{run_id}_{iterations}.pth')))
    if not found:
        raise FileNotFoundError(f'training {run_id!r} left no {run_id}_{iterations}.pth under {save_dir}')
    return Path(found[-1])


def train(entry, recipe: str, run_id: str, iterations: int, save_dir: Path, *extra: str) -> tuple[Path, dict]:
    """Run one trainer with a CPU recipe; returns (final weights, last reported stats)."""
    args = ['--config', str(ROOT / 'configs' / recipe), '-i', str(iterations), '--id', run_id,
            '--save_dir', str(save_dir), '--steps', str(int(iterations * 0.8)),
            '--set', f'log.save_interval={iterations}', *extra]
    stats = entry.main(args)
    return final_weights(save_dir, run_id, iterations), stats


def untrained_checkpoint(path: Path, recipe: str) -> Path:
    """The same light propagation network as trained, at its initialisation (the 'untrained' row)."""
    kwargs = dict(load_config(ROOT / 'configs' / recipe)['model'])
    torch.manual_seed(14159265)
    torch.save({'network': PropagationNetwork(**kwargs).state_dict(), 'model_kwargs': kwargs}, path)
    return path


def copy_first_mask(davis: Path, out: Path) -> Path:
    """Baseline predictions: every frame gets the first frame's ground-truth mask."""
    for seq in DAVISTestDataset(davis, split='val'):
        first = seq.labels(0)
        for path in seq.frame_paths:
            write_labels(out / seq.name / f'{path.stem}.png', first, seq.palette)
    return out


def overlay_video(davis: Path, masks: Path, out: Path) -> Path:
    """Overlay mp4 of the first held-out sequence with the trained network's masks."""
    seq = next(iter(DAVISTestDataset(davis, split='val')))
    frames = np.stack(list(seq.frames()))
    labels = np.stack([read_labels(masks / seq.name / f'{p.stem}.png') for p in seq.frame_paths])
    return write_video(out, overlay(frames, labels, seq.palette), fps=8)


def run(output: Path, plan: Plan) -> dict:
    t0 = time.time()
    saves, evals = output / 'saves', output / 'eval'
    print(f'quickstart: about {plan.estimate_min:.0f} minutes on 2 CPU cores; everything goes to {output}')

    def step(name: str) -> None:
        print(f'\n[{time.time() - t0:6.0f} s] {name}', flush=True)

    step('1/6 generating synthetic data')
    paths = generate(output / 'data', plan.data)
    davis = paths['davis']

    step('2/6 training propagation: static images, then two-object videos')
    static, _ = train(train_prop, 'prop_static_cpu.yaml', 'prop_static', plan.prop_static_its, saves,
                      '--static_root', str(paths['static']))
    prop, prop_stats = train(train_prop, 'prop_bl30k_cpu.yaml', 'prop_video', plan.prop_video_its, saves,
                             '--bl_root', str(paths['vos']), '--load_network', str(static))

    step('3/6 training S2M (scribble-to-mask)')
    s2m, s2m_stats = train(train_s2m, 's2m_cpu.yaml', 's2m', plan.s2m_its, saves, '--static_root', str(paths['static']))

    step('4/6 generating fusion data and training fusion')
    fusion_root = output / 'data' / 'fusion_bl'  # the first FUSION_VIDEOS two-object training videos
    generate_fusion_data.main(['--model', str(prop), '--dataset', 'BL', '--bl_root', str(paths['vos']),
                               '--output', str(fusion_root / 'run0'), '--separation', '4',
                               '--range', str(plan.data.vos_frames), '--end', str(FUSION_VIDEOS - 1), '--device', 'cpu'])
    fusion, fusion_stats = train(train_fusion, 'fusion_cpu.yaml', 'fusion', plan.fusion_its, saves,
                                 '--load_prop', str(prop), '--bl_root', str(paths['vos']),
                                 '--fusion_bl_root', str(fusion_root))

    step('5/6 semi-supervised evaluation on held-out sequences')
    semi = {
        'copy first-frame mask': eval_semi_davis.main(['--davis', str(davis), '--output', str(evals / 'semi_copy'),
                                                       '--predictions', str(copy_first_mask(davis, evals / 'copy'))]),
        'untrained propagation': eval_semi_davis.main(
            ['--davis', str(davis), '--output', str(evals / 'semi_untrained'), '--device', 'cpu',
             '--prop_model', str(untrained_checkpoint(output / 'untrained_prop.pth', 'prop_bl30k_cpu.yaml'))]),
        'trained propagation': eval_semi_davis.main(['--davis', str(davis), '--output', str(evals / 'semi_trained'),
                                                     '--prop_model', str(prop), '--device', 'cpu']),
    }
    video = overlay_video(davis, evals / 'semi_trained', output / 'overlay.mp4')

    step('6/6 interactive evaluation with the real DAVIS robot: scribbles and clicks')
    common = ['--davis', str(davis), '--prop_model', str(prop), '--fusion_model', str(fusion), '--s2m_model', str(s2m),
              '--max-interactions', str(plan.rounds), '--device', 'cpu']
    interactive = {
        'scribbles (MiVOS)': eval_interactive_davis.main([*common, '--output', str(evals / 'scribbles')]),
        'clicks f3, S2M click model': eval_interactive_davis.main(
            [*common, '--output', str(evals / 'clicks_f3'), '--interaction', 'clicks', '--click-model', 's2m',
             '--click-strategy', 'f3']),
    }
    result = {
        'minutes': (time.time() - t0) / 60,
        'semi J&F': {k: v['J&F-Mean'] for k, v in semi.items()},
        'interactive': {k: {m: v[m] for m in ('AUC-J&F', 'J&F@60s', 'R-AUC-J&F')} for k, v in interactive.items()},
        'final training loss': {'propagation': prop_stats.get('loss'), 's2m': s2m_stats.get('loss'),
                                'fusion': fusion_stats.get('loss')},
        'plots': [str(evals / 'scribbles' / 'jf_curve.png'), str(evals / 'clicks_f3' / 'jf_curve.png')],
        'overlay': str(video),
    }
    (output / 'quickstart.json').write_text(json.dumps(result, indent=1))
    print_table(result)
    return result


def print_table(result: dict) -> None:
    semi = result['semi J&F']
    lines = ['', 'Semi-supervised, held-out synthetic DAVIS val (J&F-Mean)',
             *(f'  {name:<26}{value:7.3f}' for name, value in semi.items()),
             f'  trained - copy baseline   {semi["trained propagation"] - semi["copy first-frame mask"]:+7.3f}',
             '', f'Interactive, real davisinteractive robot {"AUC-J&F":>9}{"J&F@60s":>9}{"R-AUC-J&F":>11}']
    for name, m in result['interactive'].items():
        lines.append(f'  {name:<40}{m["AUC-J&F"]:9.3f}{m["J&F@60s"]:9.3f}{m["R-AUC-J&F"]:11.3f}')
    lines += ['', f'plots: {", ".join(result["plots"])}', f'overlay: {result["overlay"]}',
              f'total time: {result["minutes"]:.1f} min']
    print('\n'.join(lines))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--output', type=Path, default=ROOT / 'runs' / 'quickstart', help='everything goes here')
    p.add_argument('--fast', action='store_true', help="~3-minute smoke version (tiny data, few iterations)")
    p.add_argument('--overwrite', action='store_true', help='replace the results of an earlier quickstart in --output')
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    if args.output.exists() and any(args.output.iterdir()):
        if not (args.overwrite and (args.output / 'data').is_dir()):
            raise SystemExit(f'error: {args.output} is not empty; remove it, give another --output, or pass '
                             '--overwrite to replace an earlier quickstart run')
        shutil.rmtree(args.output)
    return run(args.output, FAST if args.fast else FULL)


if __name__ == '__main__':
    run_main(main)
