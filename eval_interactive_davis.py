"""DAVIS interactive benchmark with the real davisinteractive robot: MiVOS scribbles, CiVOS clicks, or the ground
truth as the interaction.

    python eval_interactive_davis.py --davis DAVIS/2017/trainval --output out/scribbles
    python eval_interactive_davis.py --davis DAVIS/2017/trainval --output out/civos \\
        --interaction clicks --click-model ritm --ritm-model saves/coco_lvis_h18s_itermask.pth
With --click-model ritm the unset options follow CiVOS's protocol (every-round propagation, the robot picking the
frame, f2 with 3 clicks, 100 px minimum area, f-BRS-B, threshold 0.5); otherwise MiVOS's 3-frame schedule.
Writes report.csv, summary.json (AUC-J&F, J&F@60s, R-AUC-J&F and every setting), per_sequence.csv, timing.csv,
jf_curve.png and, with --save-mask, the submitted masks; --resume continues an interrupted run.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from evaluation.click_robot import STRATEGIES
from evaluation.interactive import CLICK_MODELS, INTERACTIONS, InteractiveSettings, evaluate_interactive, \
    load_networks
from evaluation.tables import format_table
from inference.core import FUSION_MODES
from inference.interaction.ritm import BRS_MODES
from util.cli import resolve_device, run_main, spellings
from util.files import require_writable_dir
from util.weights import file_digest


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(*spellings('--prop-model'), type=Path, default=Path('saves/propagation_model.pth'))
    p.add_argument(*spellings('--fusion-model'), type=Path, default=Path('saves/fusion.pth'))
    p.add_argument(*spellings('--s2m-model'), type=Path, default=Path('saves/s2m.pth'))
    p.add_argument(*spellings('--ritm-model'), type=Path, default=Path('saves/coco_lvis_h18s_itermask.pth'),
                   help='RITM click model as released ({config, state_dict}), for --click-model ritm')
    p.add_argument('--davis', type=Path, required=True,
                   help='DAVIS 2017 root holding JPEGImages/, Annotations/, ImageSets/ and Scribbles/ '
                        '(e.g. DAVIS/2017/trainval)')
    p.add_argument('--output', type=Path, required=True, help='result folder')
    p.add_argument(*spellings('--save-mask'), action='store_true',
                   help='also write every submitted mask as palette PNGs')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--subset', default='val', choices=('train', 'val', 'trainval'))
    p.add_argument('--sequences', help='comma-separated sequences of the subset (default: all)')
    p.add_argument('--interaction', default='scribbles', choices=INTERACTIONS,
                   help='scribbles: S2M (MiVOS); clicks: from the robot, see --click-model; oracle: the ground '
                        "truth of the robot's frame (MiVOS's perfect-interaction ablation)")
    p.add_argument('--click-model', default='s2m', choices=CLICK_MODELS,
                   help='ritm: CiVOS (RITM per object, CiVOS protocol defaults); s2m: MiVOS with clicks')
    p.add_argument('--click-strategy', choices=STRATEGIES,
                   help='f1: one click per class from its scribble points; f2: one per scribble piece; '
                        'f3: at the centres of the error regions (uses the ground truth). Default f2')
    p.add_argument('--max-clicks', type=int, help='clicks per object (f2: per class) and round; default 3')
    p.add_argument('--min-click-area', type=int, help='f3 skips error pieces under this many pixels; default 100')
    p.add_argument('--brs-mode', choices=BRS_MODES, help='RITM predictor; default f-BRS-B (CiVOS)')
    p.add_argument('--prob-thresh', type=float, help='RITM probability threshold; default 0.5 (CiVOS)')
    p.add_argument('--policy', choices=('three-frame', 'every-round'),
                   help="three-frame: MiVOS's schedule (default except for RITM clicks); every-round: propagate "
                        'after every round and let the robot pick the next frame (CiVOS)')
    p.add_argument('--max-interactions', type=int, default=8)
    p.add_argument('--max-time', type=float, default=240, help='seconds per object per sample (davisinteractive)')
    p.add_argument('--fusion', default='diff-aware', choices=FUSION_MODES)
    p.add_argument('--no-top-k', action='store_true',
                   help='read all memory positions instead of the top 50 per query (MiVOS ablation)')
    p.add_argument(*spellings('--mem-freq'), type=int, default=5)
    p.add_argument('--resume', action='store_true', help='continue the run in --output, skipping finished samples')
    return p


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    logging.getLogger('absl').setLevel(logging.WARNING)  # davisinteractive logs every round at INFO
    device = resolve_device(args.device)
    settings = InteractiveSettings(
        davis=str(args.davis.resolve()), subset=args.subset, interaction=args.interaction,
        click_model=args.click_model, click_strategy=args.click_strategy, max_clicks=args.max_clicks,
        min_click_area=args.min_click_area, brs_mode=args.brs_mode, prob_thresh=args.prob_thresh, policy=args.policy,
        max_interactions=args.max_interactions, max_time=args.max_time, fusion=args.fusion, top_k=not args.no_top_k,
        mem_freq=args.mem_freq)
    paths = {'prop': args.prop_model, 'fusion': args.fusion_model, 's2m': args.s2m_model, 'ritm': args.ritm_model}
    used = ['prop'] + ['fusion'] * (settings.fusion == 'diff-aware') + ['s2m'] * settings.uses_s2m + \
        ['ritm'] * settings.uses_ritm
    if not args.davis.is_dir():
        raise FileNotFoundError(f'--davis {args.davis} does not exist: give the DAVIS 2017 root holding '
                                f'JPEGImages/, Annotations/, ImageSets/ and Scribbles/')
    settings.models = {k: file_digest(paths[k]) for k in used}  # models are identified by content, not path
    settings.model_files = {k: str(paths[k].resolve()) for k in used}
    nets = load_networks(settings, paths, device)
    require_writable_dir(args.output, '--output folder')
    sequences = [s for s in args.sequences.split(',') if s] if args.sequences else None
    summary = evaluate_interactive(nets, settings, args.output, sequences, args.resume, device, args.save_mask)
    print(format_table(summary['table']))
    print(f"AUC-J&F {summary['AUC-J&F']:.3f}   J&F@60s {summary['J&F@60s']:.3f}   "
          f"R-AUC-J&F {summary['R-AUC-J&F']:.3f}   ({summary['samples']} samples, results in {args.output})")
    return summary


if __name__ == '__main__':
    run_main(main)
