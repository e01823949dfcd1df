"""Generate fusion training data from a propagation checkpoint (docs/mivos.md; MiVOS's `generate_fusion.py`).

For every reference frame f in range(0, T, separation) of each video, the objects with > 100 ground-truth pixels
at f (at most 5) are propagated from their ground truth with the test-time memory policy (InferenceCore, top-k
50, no fusion): through the whole video for DAVIS, through [f - range, f + range] for BL30K. Every object's
probability is written as floor(255 p):  <output>/<video>/<ref %05d>/<object id %05d>/<frame %05d>.png
(frame numbers are indices into the video). Each video is written into a hidden temporary folder and renamed to
<video> when complete, so a killed run leaves only complete videos (and a `.<video>.partial` folder that
FusionDataset skips and reports); running again replaces the videos it writes and removes that leftover. The training roots hold several such runs, e.g.
fusion_data/davis/<run>/..., so run this once per setting you want in the mixture.

The original never documented its settings; the defaults here are chosen as follows.
* --separation 10 (DAVIS) / 20 (BL30K): a fusion sample needs two references r1 != r2 whose propagations
  overlap; DAVIS train videos have 25-100 frames, so a gap of 10 yields 3-10 references per video and gaps of
  10-90 frames between pairs, the spread between successive interactions in the DAVIS interactive protocol;
  BL30K videos are 160 frames long, and 20 keeps the number of propagations per video at 8.
* --range 40 (BL30K only): each reference covers 81 frames, so references 20 and 40 frames apart cover each
  other (required by the sampler) while a video costs 8 x 80 frame propagations instead of 8 x 160.
* --mem-freq 5: the memory period of the interactive evaluation (InferenceCore's default), so that the fusion
  network learns from propagations made exactly as they are at test time.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel import AcceleratedBackend  # noqa: E402
from util.image_io import list_frames, read_labels, read_video  # noqa: E402
from inference.backend import Backend  # noqa: E402
from scripts.fusion_data import propagate_reference, reference_objects  # noqa: E402
from util.cli import resolve_device, run_main, spellings  # noqa: E402
from util.files import atomic_dir, require_writable_dir  # noqa: E402
from util.weights import load_network  # noqa: E402

log = logging.getLogger('generate_fusion_data')
DEFAULT_SEPARATION = {'DAVIS': 10, 'BL': 20}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', required=True, help='propagation weights (official file or our checkpoint)')
    p.add_argument('--dataset', choices=['DAVIS', 'BL'], default='DAVIS')
    p.add_argument(*spellings('--davis-root'), default='../DAVIS/2017/trainval',
                   help='the DAVIS 2017 trainval folder: JPEGImages/480p, Annotations/480p, ImageSets/2017/train.txt')
    p.add_argument(*spellings('--bl-root'), default='../BL30K', help='holds JPEGImages/<video>, Annotations/<video>')
    p.add_argument('--output', required=True, help='one run folder, e.g. ../fusion_data/davis/run0')
    p.add_argument('--separation', type=int, help='frames between references (default DAVIS 10, BL 20)')
    p.add_argument('--range', type=int, default=40, help='BL only: propagate f - range .. f + range')
    p.add_argument(*spellings('--mem-freq'), type=int, default=5, help='permanent memory every mem_freq frames')
    p.add_argument('--start', type=int, default=0, help='BL only: first video index (sorted names)')
    p.add_argument('--end', type=int, help='BL only: last video index, inclusive (default: the last video)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = p.parse_args(argv)
    args.separation = args.separation or DEFAULT_SEPARATION[args.dataset]
    for name in ('separation', 'range', 'mem_freq'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def video_folders(args: argparse.Namespace) -> list[tuple[str, Path, Path]]:
    """(name, frame folder, annotation folder) of every video to process."""
    if args.dataset == 'DAVIS':
        root = Path(args.davis_root)
        split = root / 'ImageSets' / '2017' / 'train.txt'
        if not split.is_file():
            raise FileNotFoundError(f'{split} not found: --davis-root must be the DAVIS 2017 folder holding '
                                    'ImageSets/, JPEGImages/480p and Annotations/480p')
        names = split.read_text().split()
        return [(n, root / 'JPEGImages' / '480p' / n, root / 'Annotations' / '480p' / n) for n in names]
    root = Path(args.bl_root)
    if not (root / 'JPEGImages').is_dir() or not (root / 'Annotations').is_dir():
        raise FileNotFoundError(f'--bl-root {root} must hold JPEGImages/<video> and Annotations/<video>')
    names = sorted(p.name for p in (root / 'JPEGImages').iterdir() if p.is_dir())
    end = len(names) - 1 if args.end is None else args.end
    return [(n, root / 'JPEGImages' / n, root / 'Annotations' / n) for n in names[args.start:end + 1]]


def write_propagations(prop_net: torch.nn.Module, name: str, frames_dir: Path, masks_dir: Path,
                       args: argparse.Namespace, backend: Backend | None = None) -> int:
    """All references of one video; returns the number of propagations written."""
    frames = read_video(frames_dir)  # [T, H, W, 3]
    mask_files = list_frames(masks_dir)
    if len(mask_files) != len(frames):
        raise ValueError(f'{masks_dir} has {len(mask_files)} annotations for {len(frames)} frames in {frames_dir}')
    t = len(frames)
    written = 0
    with atomic_dir(Path(args.output) / name) as video_dir:  # a killed run leaves no half-written <video> folder
        for ref in range(0, t, args.separation):
            labels = read_labels(mask_files[ref])
            objects = reference_objects(labels)
            if not objects:
                continue
            lo, hi = (0, t - 1) if args.dataset == 'DAVIS' else (max(0, ref - args.range),
                                                                 min(t - 1, ref + args.range))
            probs = propagate_reference(prop_net, frames[lo:hi + 1], labels, ref - lo, objects, args.mem_freq,
                                        args.device, backend)  # [K, hi-lo+1, H, W]
            for i, obj in enumerate(objects):
                out = video_dir / f'{ref:05d}' / f'{obj:05d}'
                out.mkdir(parents=True)
                for j in range(probs.shape[1]):
                    Image.fromarray(probs[i, j]).save(out / f'{lo + j:05d}.png')
            written += 1
    return written


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    args = parse_args(argv)
    args.device = resolve_device(args.device)
    prop_net = load_network('propagation', args.model, args.device)
    videos = video_folders(args)
    require_writable_dir(args.output, '--output folder')  # before any propagation
    total = 0
    backend = AcceleratedBackend()  # one for all propagations: networks are prepared once per frame size
    for name, frames_dir, masks_dir in tqdm(videos, desc='videos'):
        total += write_propagations(prop_net, name, frames_dir, masks_dir, args, backend)
    log.info('wrote %d propagations of %d videos to %s', total, len(videos), args.output)


if __name__ == '__main__':
    run_main(main)
