"""Generate the synthetic data sets (static images, VOS training videos, DAVIS-2017-format evaluation root)."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataset.synthetic import LOOKS, SyntheticConfig, generate  # noqa: E402
from util.cli import run_main  # noqa: E402
from util.files import require_writable_dir  # noqa: E402

HELP = {
    'seed': 'base seed; every image/video is a pure function of (seed, set, index)',
    'height': 'frame height in pixels',
    'width': 'frame width in pixels',
    'static_images': 'number of static image+mask pairs (out/static, flat XXXXX.jpg + XXXXX.png)',
    'vos_videos': 'number of training videos in YouTubeVOS/BL30K layout (out/vos)',
    'vos_frames': 'frames per training video',
    'davis_train': 'DAVIS-format sequences listed in ImageSets/2017/train.txt (out/davis)',
    'davis_val': 'DAVIS-format sequences listed in ImageSets/2017/val.txt (out/davis)',
    'davis_frames': 'frames per DAVIS-format sequence',
    'davis_scribbles': 'initial scribble files per DAVIS sequence (Scribbles/<seq>/001.json, 002.json, ...)',
    'min_objects': 'fewest annotated objects per video',
    'max_objects': 'most annotated objects per video',
    'motion': 'motion strength (object paths, spin, scaling, deformation, camera); 0 = still',
    'clutter': 'unlabelled object-like shapes per background, MIN,MAX',
    'look': 'shared: objects, distractors and background from one appearance distribution (only the first-frame '
            'mask tells the objects); shared_large: the same with larger objects; salient: saturated objects on '
            'desaturated backgrounds; cells: the held-out look (other textures, small objects)',
    'workers': 'worker processes (1 = in this process)',
}


def int_pair(text: str) -> tuple[int, int]:
    """'2,6' -> (2, 6)."""
    try:
        lo, hi = (int(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected MIN,MAX (two integers), got {text!r}') from None
    return lo, hi


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('out', type=Path, help='output folder (gets static/, vos/, davis/ and config.json)')
    defaults = SyntheticConfig()
    for f in fields(SyntheticConfig):
        flag, default = f'--{f.name.replace("_", "-")}', getattr(defaults, f.name)
        if f.name == 'look':
            parser.add_argument(flag, choices=sorted(LOOKS), default=default, help=HELP[f.name])
        else:
            kind = int_pair if isinstance(default, tuple) else type(default)
            parser.add_argument(flag, type=kind, default=default, help=HELP[f.name])
    parser.add_argument('--salient', dest='look', action='store_const', const='salient', help='same as --look salient')
    return parser


def main(argv: list[str] | None = None) -> dict[str, Path]:
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    out = args.pop('out')
    try:
        cfg = SyntheticConfig(**args)
    except ValueError as e:
        parser.error(str(e))
    require_writable_dir(out, 'output folder')
    start = time.perf_counter()
    roots = generate(out, cfg)
    logging.info('done in %.1f s: %s', time.perf_counter() - start, ', '.join(f'{k}={v}' for k, v in roots.items()))
    return roots


if __name__ == '__main__':
    run_main(main)
