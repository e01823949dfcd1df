#!/usr/bin/env python
"""The interactive annotation tool (MiVOS's GUI) as a local web app: open the printed URL in a browser.

    python scripts/interactive_gui.py --video clip.mp4 --num-objects 2 --prop-model saves/propagation_model.pth \\
        --fusion-model saves/fusion.pth --s2m-model saves/s2m.pth --output out/clip
    python scripts/interactive_gui.py --demo        # no weights needed
    ... --ritm-model saves/coco_lvis_h18s_itermask.pth   # clicks through RITM (CiVOS) instead of S2M
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gui.app import create_app  # noqa: E402
from gui.editor import Editor  # noqa: E402
from gui.launch import check_port, mask_objects, open_clicker, open_demo, open_video  # noqa: E402
from inference.interaction.ritm import BRS_MODES  # noqa: E402
from util.cli import run_main, spellings  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--video', help='an mp4 (or any video OpenCV reads) or a folder of frames')
    p.add_argument('--demo', action='store_true', help="the quickstart's clip and networks (runs/quickstart), or a "
                   'generated clip with untrained light networks')
    p.add_argument(*spellings('--num-objects'), type=int,
                   help='objects to annotate (default: the largest id in --masks, else 1)')
    p.add_argument(*spellings('--prop-model'), default='saves/propagation_model.pth', help='propagation weights')
    p.add_argument(*spellings('--fusion-model'), default='saves/fusion.pth', help='fusion weights')
    p.add_argument(*spellings('--s2m-model'), default='saves/s2m.pth', help='S2M (scribble/click-to-mask) weights')
    p.add_argument(*spellings('--ritm-model'), help="a RITM click model (e.g. coco_lvis_h18s_itermask.pth, CiVOS's): "
                   'clicks then go through RITM instead of S2M')
    p.add_argument(*spellings('--brs-mode'), choices=BRS_MODES, default='NoBRS',
                   help='RITM predictor (default NoBRS; f-BRS-B, as CiVOS, optimises each answer: slower)')
    p.add_argument('--masks', help='a folder of palette PNGs (one per frame, e.g. an earlier save) to continue from')
    p.add_argument('--output', type=Path, default=Path('output'), help='where "Save" writes NNNNN.png + overlay.mp4')
    p.add_argument('--host', default='127.0.0.1', help='address to listen on (default: this machine only)')
    p.add_argument('--port', type=int, default=8000)
    p.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    p.add_argument('--fps', type=float, default=24.0, help='frame rate of the saved overlay.mp4')
    return p


def open_editor(args: argparse.Namespace) -> tuple[Editor, str | None]:
    """The editor the arguments ask for (--demo or --video), and the banner of its page (None for real inputs)."""
    clicker = open_clicker(args.ritm_model, args.brs_mode, args.device) if args.ritm_model else None
    if args.demo:
        opened = open_demo(args.device)
    else:
        num_objects = args.num_objects or (mask_objects(args.masks) if args.masks else 1)
        opened = open_video(args.video, num_objects, args.prop_model, args.fusion_model, args.s2m_model, args.device)
    editor = Editor(opened.session, args.output.absolute(), args.fps, ritm=clicker)
    if args.masks:
        editor.load(args.masks)
    return editor, opened.banner


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    if not args.demo and not args.video:
        raise ValueError('give --video clip.mp4 (or a folder of frames), or try the tool with --demo')
    check_port(args.host, args.port)
    editor, banner = open_editor(args)
    url = f'http://{"localhost" if args.host == "127.0.0.1" else args.host}:{args.port}/'
    print(f'MiVOS annotation tool: {url}  ({editor.num_frames} frames of {editor.width}x{editor.height}, '
          f'{editor.session.num_objects} object(s), clicks through {editor.click_model}; Ctrl+C stops it)')
    if banner:
        print(banner)
    if args.host == '127.0.0.1':
        print(f'From another machine: ssh -L {args.port}:127.0.0.1:{args.port} THIS_HOST, then open {url}')
    uvicorn.run(create_app(editor, banner), host=args.host, port=args.port, log_level='warning')


if __name__ == '__main__':
    run_main(main)
