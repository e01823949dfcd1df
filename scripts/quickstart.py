#!/usr/bin/env python
"""The whole MiVOS pipeline on built-in synthetic data, on a CPU, in minutes (`make quickstart`).

Generates the synthetic sets, trains propagation (two-object videos), S2M and fusion with the CPU recipes,
evaluates semi-supervised propagation on held-out sequences of the training look and of an unseen look against the
copy-first-mask baseline and the untrained network, checks that swapping the first-frame ids swaps the predictions,
runs the real DAVIS interactive robot with scribbles and with clicks, and prints one table with the targets.
Everything goes under --output (default runs/quickstart). `--fast` is the ~3-minute smoke version the tests run.
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
from evaluation.id_swap import id_swap_scores  # noqa: E402
from evaluation.semi import copy_first_mask  # noqa: E402
from model.propagation import PropagationNetwork  # noqa: E402
from scripts import generate_fusion_data  # noqa: E402
from util.cli import run_main  # noqa: E402
from util.config import load_config  # noqa: E402
from util.image_io import read_labels  # noqa: E402
from util.video import overlay, write_video  # noqa: E402
from util.weights import load_network  # noqa: E402

log = logging.getLogger('quickstart')


@dataclass(frozen=True)
class Plan:
    """Sizes of one quickstart run: data, iterations per trainer, evaluation rounds."""
    data: SyntheticConfig       # training static images + videos, and the held-out DAVIS root of the same look
    unseen: SyntheticConfig     # a held-out DAVIS root of a look no trainer sees
    prop_static_its: int
    prop_video_its: int
    s2m_its: int
    fusion_its: int
    rounds: int
    estimate_min: float


# The default (shared) look: objects, moving distractors and background drawn from one appearance distribution, so
# only the first-frame mask and the memory tell which region is which object. The unseen look has other textures,
# smaller objects and slower motion. Two objects per video: every held-out sequence takes part in the id-swap check.
FULL = Plan(SyntheticConfig(height=120, width=216, static_images=200, vos_videos=60, vos_frames=16, davis_train=3,
                            davis_val=4, davis_frames=16, min_objects=2, max_objects=2),
            SyntheticConfig(seed=1, height=120, width=216, static_images=0, vos_videos=0, davis_train=0, davis_val=4,
                            davis_frames=16, min_objects=2, max_objects=2, look='cells', motion=0.5),
            prop_static_its=0, prop_video_its=2000, s2m_its=100, fusion_its=300, rounds=8, estimate_min=13)
# Fusion learns from the propagations of this many training videos: with the 3 DAVIS-layout train videos it learned
# their objects' looks instead of reading the masks (interactive rounds 6-8 below --fusion linear).
FUSION_VIDEOS = 12
FAST = Plan(SyntheticConfig(height=96, width=160, static_images=24, vos_videos=8, vos_frames=10, davis_train=2,
                            davis_val=2, davis_frames=8, min_objects=2, max_objects=2),
            SyntheticConfig(seed=1, height=96, width=160, static_images=0, vos_videos=0, davis_train=0, davis_val=2,
                            davis_frames=8, min_objects=2, max_objects=2, look='cells', motion=0.5),
            prop_static_its=10, prop_video_its=20, s2m_its=20, fusion_its=10, rounds=3, estimate_min=3)
# What the full run must show (issue 17): trained propagation beats copy-first-mask by this much J&F on every
# held-out look, swapping objects 1 and 2 in the first frame keeps this fraction of the score, the interactive
# scribble curve never drops by more than MAX_ROUND_DROP from one round to the next, and diff-aware fusion's AUC
# is at least linear fusion's. Ours: with ids swapped, J&F against the old truth is at most MAX_CROSSED of J&F (the
# predictions follow the ids in memory, not appearance).
TARGET_GAIN, TARGET_SWAP_RATIO, MAX_ROUND_DROP, MAX_CROSSED = 0.25, 0.8, 0.05, 0.5


def final_weights(save_dir: Path, run_id: str, iterations: int) -> Path:
    """The weights file a trainer wrote at its last iteration."""
    found = sorted(glob.glob(str(save_dir / f'*_{run_id}' / f'{run_id}_{iterations}.pth')))
    if not found:
        raise FileNotFoundError(f'training {run_id!r} left no {run_id}_{iterations}.pth under {save_dir}')
    return Path(found[-1])


def train(entry, recipe: str, run_id: str, iterations: int, save_dir: Path, *extra: str) -> tuple[Path, dict]:
    """Run one trainer with a CPU recipe; returns (final weights, last reported stats)."""
    args = ['--config', str(ROOT / 'configs' / recipe), '-i', str(iterations), '--id', run_id,
            '--save-dir', str(save_dir), '--steps', str(int(iterations * 0.8)),
            '--set', f'log.save_interval={iterations}', *extra]
    stats = entry.main(args)
    return final_weights(save_dir, run_id, iterations), stats


def untrained_checkpoint(path: Path, recipe: str) -> Path:
    """The same light propagation network as trained, at its initialisation (the 'untrained' row)."""
    kwargs = dict(load_config(ROOT / 'configs' / recipe)['model'])
    torch.manual_seed(14159265)
    torch.save({'network': PropagationNetwork(**kwargs).state_dict(), 'model_kwargs': kwargs}, path)
    return path


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

    step('2/6 training propagation on two-object videos' + (' after static images' if plan.prop_static_its else ''))
    start = []
    if plan.prop_static_its:
        static, _ = train(train_prop, 'prop_static_cpu.yaml', 'prop_static', plan.prop_static_its, saves,
                          '--static-root', str(paths['static']))
        start = ['--load-network', str(static)]
    prop, prop_stats = train(train_prop, 'prop_bl30k_cpu.yaml', 'prop_video', plan.prop_video_its, saves,
                             '--bl-root', str(paths['vos']), *start)

    step('3/6 training S2M (scribble-to-mask)')
    s2m, s2m_stats = train(train_s2m, 's2m_cpu.yaml', 's2m', plan.s2m_its, saves, '--static-root', str(paths['static']))

    step('4/6 generating fusion data and training fusion')
    fusion_root = output / 'data' / 'fusion_bl'  # the first FUSION_VIDEOS two-object training videos
    generate_fusion_data.main(['--model', str(prop), '--dataset', 'BL', '--bl-root', str(paths['vos']),
                               '--output', str(fusion_root / 'run0'), '--separation', '4',
                               '--range', str(plan.data.vos_frames), '--end', str(FUSION_VIDEOS - 1), '--device', 'cpu'])
    fusion, fusion_stats = train(train_fusion, 'fusion_cpu.yaml', 'fusion', plan.fusion_its, saves,
                                 '--load-prop', str(prop), '--bl-root', str(paths['vos']),
                                 '--fusion-bl-root', str(fusion_root))

    step('5/6 semi-supervised evaluation and id-swap check on held-out sequences of two looks')
    held_out = {'default look': davis, 'unseen look': generate(output / 'data_unseen', plan.unseen)['davis']}
    untrained = untrained_checkpoint(output / 'untrained_prop.pth', 'prop_bl30k_cpu.yaml')
    semi, swap = {}, {}
    for look, root in held_out.items():
        out = evals / look.replace(' ', '_')
        semi[look] = {
            'copy first-frame mask': eval_semi_davis.main(['--davis', str(root), '--output', str(out / 'semi_copy'),
                                                           '--predictions', str(copy_first_mask(root, out / 'copy'))]),
            'untrained propagation': eval_semi_davis.main(['--davis', str(root), '--output', str(out / 'semi_untrained'),
                                                           '--prop-model', str(untrained), '--device', 'cpu']),
            'trained propagation': eval_semi_davis.main(['--davis', str(root), '--output', str(out / 'semi_trained'),
                                                         '--prop-model', str(prop), '--device', 'cpu']),
        }
        swap[look] = id_swap_scores(load_network('propagation', prop), root, out / 'id_swap')
    video = overlay_video(davis, evals / 'default_look' / 'semi_trained', output / 'overlay.mp4')

    step('6/6 interactive evaluation with the real DAVIS robot: scribbles and clicks')
    common = ['--davis', str(davis), '--prop-model', str(prop), '--fusion-model', str(fusion), '--s2m-model', str(s2m),
              '--max-interactions', str(plan.rounds), '--device', 'cpu']
    interactive = {
        'scribbles (MiVOS)': eval_interactive_davis.main([*common, '--output', str(evals / 'scribbles')]),
        'scribbles, --fusion linear': eval_interactive_davis.main(
            [*common, '--output', str(evals / 'scribbles_linear'), '--fusion', 'linear']),
        'clicks f3, S2M click model': eval_interactive_davis.main(
            [*common, '--output', str(evals / 'clicks_f3'), '--interaction', 'clicks', '--click-model', 's2m',
             '--click-strategy', 'f3']),
    }
    semi_jf = {look: {k: v['J&F-Mean'] for k, v in rows.items()} for look, rows in semi.items()}
    result = {
        'minutes': (time.time() - t0) / 60,
        'estimate minutes': plan.estimate_min,
        'semi J&F': semi_jf,
        'id swap': swap,
        'targets': targets(semi_jf, swap, interactive),
        'interactive': {k: {m: v[m] for m in ('AUC-J&F', 'J&F@60s', 'R-AUC-J&F', 'J&F per round')}
                        for k, v in interactive.items()},
        'final training loss': {'propagation': prop_stats.get('loss'), 's2m': s2m_stats.get('loss'),
                                'fusion': fusion_stats.get('loss')},
        'plots': [str(evals / 'scribbles' / 'jf_curve.png'), str(evals / 'clicks_f3' / 'jf_curve.png')],
        'overlay': str(video),
    }
    (output / 'quickstart.json').write_text(json.dumps(result, indent=1))
    print_table(result)
    return result


def targets(semi: dict, swap: dict, interactive: dict) -> dict:
    """The targets: per held-out look the gain of trained propagation over copy-first-mask and the id-swap ratio;
    the largest round-to-round drop of the scribble curve; diff-aware minus linear fusion AUC."""
    out = {}
    for look in semi:
        gain = semi[look]['trained propagation'] - semi[look]['copy first-frame mask']
        out[f'trained - copy, {look}'] = {'value': gain, 'target': TARGET_GAIN, 'rule': '>=', 'met': gain >= TARGET_GAIN}
        ratio = swap[look]['ratio']
        out[f'id-swap ratio, {look}'] = {'value': ratio, 'target': TARGET_SWAP_RATIO, 'rule': '>=',
                                         'met': ratio >= TARGET_SWAP_RATIO}
        # The ratio is ~1 for any network that treats objects alike; following the ids shows against the old truth.
        crossed = swap[look]['J&F crossed'] / max(swap[look]['J&F'], 1e-6)
        out[f'old truth / given, {look}'] = {'value': crossed, 'target': MAX_CROSSED, 'rule': '<=',
                                                        'met': crossed <= MAX_CROSSED}
    rounds = interactive['scribbles (MiVOS)']['J&F per round']
    drop = max([a - b for a, b in zip(rounds, rounds[1:])], default=0.0)
    out['largest round-to-round drop'] = {'value': drop, 'target': MAX_ROUND_DROP, 'rule': '<=',
                                          'met': drop <= MAX_ROUND_DROP}
    gain = interactive['scribbles (MiVOS)']['AUC-J&F'] - interactive['scribbles, --fusion linear']['AUC-J&F']
    out['diff-aware - linear fusion AUC'] = {'value': gain, 'target': 0.0, 'rule': '>=', 'met': gain >= 0.0}
    return out


def print_table(result: dict) -> None:
    looks = list(result['semi J&F'])
    lines = ['', 'Semi-supervised J&F-Mean on held-out synthetic DAVIS val', f'  {"":<26}' + ''.join(f'{k:>14}' for k in looks)]
    for row in result['semi J&F'][looks[0]]:
        lines.append(f'  {row:<26}' + ''.join(f'{result["semi J&F"][k][row]:14.3f}' for k in looks))
    for key, label in (('J&F', 'id swap: ids as given'), ('J&F swapped', '  ids 1, 2 swapped'),
                       ('J&F crossed', '  swapped, old truth')):
        lines.append(f'  {label:<26}' + ''.join(f'{result["id swap"][k][key]:14.3f}' for k in looks))
    lines += ['', 'Targets']
    for name, t in result['targets'].items():
        lines.append(f'  {name:<34}{t["value"]:7.3f}  (target {t["rule"]} {t["target"]:.2f})  {"met" if t["met"] else "NOT MET"}')
    lines += ['', f'Interactive, real davisinteractive robot {"AUC-J&F":>9}{"J&F@60s":>9}{"R-AUC-J&F":>11}']
    for name, m in result['interactive'].items():
        lines.append(f'  {name:<40}{m["AUC-J&F"]:9.3f}{m["J&F@60s"]:9.3f}{m["R-AUC-J&F"]:11.3f}')
        lines.append(f'    J&F per round: {" ".join(f"{v:.3f}" for v in m["J&F per round"])}')
    lines += ['', f'plots: {", ".join(result["plots"])}', f'overlay: {result["overlay"]}',
              f'total time: {result["minutes"]:.1f} min (estimate {result["estimate minutes"]:.0f} min)']
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
