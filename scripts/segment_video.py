#!/usr/bin/env python
"""Segment a video headlessly: a first-frame mask (palette PNG) or DAVIS-format scribbles -> palette PNGs + overlay mp4.

    python scripts/segment_video.py --video clip.mp4 --mask first.png --prop-model saves/propagation_model.pth \\
        --fusion-model saves/fusion.pth --output out/clip
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.session import Session, present_object_ids  # noqa: E402
from util.cli import UsageError, resolve_device, run_main, spellings  # noqa: E402
from util.files import require_writable_dir  # noqa: E402
from util.image_io import FrameSource, open_frames, read_labels, read_palette  # noqa: E402
from util.palette import DAVIS_PALETTE, VOID  # noqa: E402

log = logging.getLogger('segment_video')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--video', required=True, help='an mp4 (or any video OpenCV reads) or a folder of frames')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--mask', help='palette PNG with the object ids of one frame (0 = background)')
    src.add_argument('--scribbles', help='davisinteractive-format scribble JSON (needs --s2m-model)')
    p.add_argument('--frame', type=int, default=0, help='frame the --mask belongs to (default 0)')
    p.add_argument(*spellings('--prop-model'), required=True, help='propagation checkpoint (official or ours)')
    p.add_argument(*spellings('--fusion-model'),
                   help='fusion checkpoint (only used once several frames are interacted)')
    p.add_argument(*spellings('--s2m-model'), help='S2M checkpoint (for --scribbles)')
    p.add_argument('--output', required=True, help='folder for NNNNN.png masks and overlay.mp4')
    p.add_argument(*spellings('--mem-freq'), type=int, default=5, help='memory every N frames (default 5, as MiVOS)')
    p.add_argument('--fps', type=float, default=24.0, help='frame rate of overlay.mp4')
    p.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    return p


def load_first_mask(path: str, frames: FrameSource, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Read the mask, check it against the video, return (labels [H,W], palette)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f'mask not found: {path}')
    labels = read_labels(path)
    if labels.shape != frames.shape[1:3]:
        raise UsageError(f'mask {path} is {labels.shape[1]}x{labels.shape[0]} but the video is '
                         f'{frames.shape[2]}x{frames.shape[1]} (WxH); resize the mask with nearest interpolation')
    if not present_object_ids(labels):
        raise UsageError(f'mask {path} has no objects (all pixels are 0 or void 255); label objects with ids 1, 2, ...')
    if not 0 <= frame < len(frames):
        raise UsageError(f'--frame {frame} is outside the video (0..{len(frames) - 1})')
    return labels, read_palette(path)


def load_scribbles(path: str, frames: FrameSource) -> tuple[dict, list[int]]:
    """Read a davisinteractive scribble JSON ({'scribbles': [[stroke, ...] per frame]}) and the object ids it names."""
    if not Path(path).is_file():
        raise FileNotFoundError(f'scribble file not found: {path}')
    try:
        scribbles = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f'{path} is not valid JSON: {e}') from e
    per_frame = scribbles.get('scribbles') if isinstance(scribbles, dict) else None
    if not isinstance(per_frame, list) or not all(isinstance(f, list) for f in per_frame):
        raise UsageError(f'{path} must hold a JSON object {{"scribbles": [[stroke, ...] for each frame]}} as '
                         'davisinteractive writes it')
    if len(per_frame) != len(frames):
        raise UsageError(f'{path} has {len(per_frame)} frame lists but the video has {len(frames)} frames')
    ids = set()
    for t, strokes in enumerate(per_frame):
        for stroke in strokes:
            object_id = stroke.get('object_id') if isinstance(stroke, dict) else None
            if isinstance(object_id, bool) or not isinstance(object_id, int) or not 0 <= object_id < VOID:
                raise UsageError(f'{path}: a stroke on frame {t} has object_id {object_id!r}; object ids must be whole '
                                 'numbers (0 = background, 1..254 objects)')
            ids.add(object_id)
    ids.discard(0)
    if not ids:
        raise UsageError(f'{path} has no object strokes (object_id >= 1)')
    return scribbles, sorted(ids)


def main(argv: list[str] | None = None) -> Path:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    if args.scribbles and not args.s2m_model:
        parser.error('--scribbles needs --s2m-model')
    if args.mem_freq < 1 or not 0 < args.fps < 1000:
        parser.error('--mem-freq must be >= 1 and --fps in (0, 1000)')
    device = resolve_device(args.device)
    out = require_writable_dir(args.output, '--output folder')  # before any work: nothing is lost at the end
    frames = open_frames(args.video)  # read one frame at a time when needed
    if args.mask:
        labels, palette = load_first_mask(args.mask, frames, args.frame)
        object_ids = present_object_ids(labels)
    else:
        scribbles, object_ids = load_scribbles(args.scribbles, frames)
        palette = DAVIS_PALETTE
    # one interaction propagates to every frame once, so no query feature is read twice: no feature cache
    session = Session.from_checkpoints(frames, object_ids, args.prop_model, args.fusion_model, args.s2m_model,
                                       device=device, mem_freq=args.mem_freq, progress=True, feature_cache_size=0)
    log.info('%d frames of %dx%d, objects %s', len(frames), frames.shape[2], frames.shape[1], object_ids)
    if args.mask:
        session.set_mask(labels, frame=args.frame)
    else:
        session.scribbles(scribbles)
    session.save_masks(out, palette)
    session.save_overlay(out / 'overlay.mp4', fps=args.fps, palette=palette)
    log.info('wrote %d masks and overlay.mp4 to %s', len(frames), out)
    return out


if __name__ == '__main__':
    run_main(main)
