"""Semi-supervised DAVIS / YouTubeVOS with the propagation network: first-frame mask -> palette PNGs -> J, F, J&F.

    python eval_semi_davis.py --prop-model saves/propagation_model.pth --davis DAVIS/2017/trainval --output out
    python eval_semi_davis.py --davis DAVIS/2017/trainval --predictions out --output out   # evaluate masks only
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch
from tqdm import tqdm

from evaluation.semi import DATASETS, evaluate_predictions, open_dataset, run_propagation, zip_submission
from evaluation.tables import format_table
from util.cli import resolve_device, run_main, spellings
from util.files import atomic_write_text, require_writable_dir
from util.weights import load_network

log = logging.getLogger('eval_semi_davis')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(*spellings('--prop-model'), type=Path, help='propagation weights (official file or our checkpoint)')
    p.add_argument('--davis', '--root', dest='davis', type=Path, required=True,
                   help='data root: a DAVIS 2017 root (e.g. DAVIS/2017/trainval) or a YouTubeVOS valid folder')
    p.add_argument('--dataset', choices=DATASETS, default='davis')
    p.add_argument('--year', type=int, choices=(2016, 2017), default=2017)
    p.add_argument('--split', choices=('val', 'test-dev'), default='val')
    p.add_argument('--sequences', help='comma-separated subset of the split (default: all)')
    p.add_argument('--output', type=Path, required=True, help='folder for the masks, results.csv and summary.json')
    p.add_argument('--predictions', type=Path,
                   help='evaluate the masks in this folder (same layout as --output) instead of running a network')
    p.add_argument(*spellings('--mem-freq'), type=int, default=5,
                   help='every n-th frame becomes a permanent memory frame')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    return p


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    if args.predictions is None and args.prop_model is None:
        parser.error('give --prop-model (to run the network) or --predictions DIR (to evaluate masks)')
    if args.mem_freq < 1:
        parser.error(f'--mem-freq must be >= 1, got {args.mem_freq}')
    device = resolve_device(args.device)
    sequences = [s for s in args.sequences.split(',') if s] if args.sequences else None
    data = open_dataset(args.dataset, args.davis, args.year, args.split, sequences)
    require_writable_dir(args.output, '--output folder')
    summary: dict = {'dataset': args.dataset, 'root': str(args.davis), 'sequences': len(data.names)}
    if args.dataset == 'davis':
        summary.update(year=args.year, split=args.split)
    masks = args.predictions
    if masks is None:
        prop_net = load_network('propagation', args.prop_model, device)
        stats = run_propagation(prop_net, data, args.output, device, args.mem_freq,
                                progress=tqdm(data, total=len(data.names), desc='propagating'))
        summary.update(frames=stats.frames, seconds=stats.seconds, fps=stats.fps,
                       peak_memory_mb=stats.peak_memory_mb, device=str(args.device))
        print(f'{stats.frames} frames in {stats.seconds:.1f} s: {stats.fps:.2f} FPS, '
              f'peak memory {stats.peak_memory_mb:.0f} MB ({args.device})')
        masks = args.output
        if not data.has_ground_truth:
            summary['submission'] = str(zip_submission(data, args.output))
            print(f'no ground truth here: submit {summary["submission"]} to the evaluation server')
    if data.has_ground_truth:
        table = evaluate_predictions(data, masks, progress=tqdm(data, total=len(data.names), desc='evaluating'))
        atomic_write_text(args.output / 'results.csv', table.to_csv(index=False, float_format='%.6f'))
        summary.update({c: float(table[c].iloc[-1]) for c in ('J-Mean', 'F-Mean', 'J&F-Mean')})
        print(format_table(table))
    atomic_write_text(args.output / 'summary.json', json.dumps(summary, indent=1))
    return summary


if __name__ == '__main__':
    run_main(main)
