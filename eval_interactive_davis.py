"""DAVIS interactive benchmark with the real davisinteractive robot: MiVOS scribbles or CiVOS clicks.

    python eval_interactive_davis.py --davis DAVIS/2017/trainval --output out/scribbles
    python eval_interactive_davis.py --davis DAVIS/2017/trainval --output out/clicks_f2 \\
        --interaction clicks --click-strategy f2
Writes report.csv, summary.json (AUC-J&F, J&F@60s, R-AUC-J&F), per_sequence.csv, timing.csv, jf_curve.png and,
with --save_mask, the submitted masks; --resume continues an interrupted run.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from evaluation.click_robot import STRATEGIES
from evaluation.interactive import InteractiveSettings, Networks, evaluate_interactive
from evaluation.tables import format_table
from inference.core import FUSION_MODES
from util.cli import resolve_device, run_main
from util.files import require_writable_dir
from util.weights import file_digest, load_network


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--prop_model', type=Path, default=Path('saves/propagation_model.pth'))
    p.add_argument('--fusion_model', type=Path, default=Path('saves/fusion.pth'))
    p.add_argument('--s2m_model', type=Path, default=Path('saves/s2m.pth'))
    p.add_argument('--davis', type=Path, required=True,
                   help='DAVIS 2017 root holding JPEGImages/, Annotations/, ImageSets/ and Scribbles/ '
                        '(e.g. DAVIS/2017/trainval)')
    p.add_argument('--output', type=Path, required=True, help='result folder')
    p.add_argument('--save_mask', action='store_true', help='also write every submitted mask as palette PNGs')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--subset', default='val', choices=('train', 'val', 'trainval'))
    p.add_argument('--sequences', help='comma-separated sequences of the subset (default: all)')
    p.add_argument('--interaction', default='scribbles', choices=('scribbles', 'clicks'))
    p.add_argument('--click-strategy', default='f2', choices=STRATEGIES,
                   help='f1: one click per object from its scribbles; f2: one per scribble stroke; '
                        'f3: at the centres of the error regions (uses the ground truth)')
    p.add_argument('--max-clicks', type=int, default=1, help='clicks per object and round (f2, f3)')
    p.add_argument('--policy', default='three-frame', choices=('three-frame', 'every-round'))
    p.add_argument('--max-interactions', type=int, default=8)
    p.add_argument('--max-time', type=float, default=240, help='seconds per object per sample (davisinteractive)')
    p.add_argument('--fusion', default='diff-aware', choices=FUSION_MODES)
    p.add_argument('--mem-freq', type=int, default=5)
    p.add_argument('--resume', action='store_true', help='continue the run in --output, skipping finished samples')
    return p


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    logging.getLogger('absl').setLevel(logging.WARNING)  # davisinteractive logs every round at INFO
    device = resolve_device(args.device)
    models = {'prop': args.prop_model, 's2m': args.s2m_model}
    if args.fusion == 'diff-aware':
        models['fusion'] = args.fusion_model
    if not args.davis.is_dir():
        raise FileNotFoundError(f'--davis {args.davis} does not exist: give the DAVIS 2017 root holding '
                                f'JPEGImages/, Annotations/, ImageSets/ and Scribbles/')
    nets = Networks(prop=load_network('propagation', args.prop_model, device),
                    fusion=load_network('fusion', args.fusion_model, device) if 'fusion' in models else None,
                    s2m=load_network('s2m', args.s2m_model, device))
    settings = InteractiveSettings(
        davis=str(args.davis.resolve()), subset=args.subset, interaction=args.interaction,
        click_strategy=args.click_strategy, max_clicks=args.max_clicks, policy=args.policy,
        max_interactions=args.max_interactions, max_time=args.max_time, fusion=args.fusion, mem_freq=args.mem_freq,
        models={k: file_digest(v) for k, v in models.items()},
        model_files={k: str(v.resolve()) for k, v in models.items()})
    require_writable_dir(args.output, '--output folder')
    sequences = [s for s in args.sequences.split(',') if s] if args.sequences else None
    summary = evaluate_interactive(nets, settings, args.output, sequences, args.resume, device, args.save_mask)
    print(format_table(summary['table']))
    print(f"AUC-J&F {summary['AUC-J&F']:.3f}   J&F@60s {summary['J&F@60s']:.3f}   "
          f"R-AUC-J&F {summary['R-AUC-J&F']:.3f}   ({summary['samples']} samples, results in {args.output})")
    return summary


if __name__ == '__main__':
    run_main(main)
