"""What the annotation tool opens: the given video and weights (with a clear message for missing files) or a demo."""
from __future__ import annotations

import glob
import re
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dataset.synthetic import render_video
from gui.editor import mask_files
from inference.interaction.civos import CiVOSInteraction
from inference.session import Session
from util.image_io import read_labels, read_video
from util.weights import LIGHT_KWARGS, CheckpointError, load_network, network_class

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / 'runs' / 'quickstart'
WEIGHTS = {'propagation': ('--prop-model', 'propagation_model.pth', 'train_prop.py'),
           'fusion': ('--fusion-model', 'fusion.pth', 'train_fusion.py'),
           's2m': ('--s2m-model', 's2m.pth', 'train_s2m.py')}


@dataclass
class Opened:
    """A session ready to edit, and the banner the page shows about it (None for real inputs)."""

    session: Session
    banner: str | None = None


def missing_weights(paths: dict[str, str | None]) -> str | None:
    """A message naming every missing weight file and how to get it; None if all exist."""
    missing = [(kind, path) for kind, path in paths.items() if not path or not Path(path).is_file()]
    if not missing:
        return None
    lines = ['missing network weights:']
    for kind, path in missing:
        flag, official, trainer = WEIGHTS[kind]
        lines.append(f'  {flag} {path or "(not given)"}: not found. Put the official {official} there, or train '
                     f'one with python {trainer} (README "Training")')
    lines.append('The official files go to saves/ (propagation_model.pth, fusion.pth, s2m.pth). `make quickstart` '
                 'trains small CPU networks into runs/quickstart; `--demo` opens the tool on them.')
    return '\n'.join(lines)


def open_clicker(path: str, brs_mode: str, device: str) -> CiVOSInteraction:
    """RITM clicks with CiVOS's predictor settings (and `brs_mode`) from a RITM click-model file, with one clear
    message for a missing or wrong file."""
    if not Path(path).is_file():
        raise ValueError(f'--ritm-model {path}: not found. Give a RITM click model as RITM releases them (e.g. '
                         "coco_lvis_h18s_itermask.pth, CiVOS's), or leave --ritm-model out to click through S2M")
    try:
        return CiVOSInteraction.with_network(load_network('ritm', path, device), brs_mode)
    except CheckpointError as e:
        raise CheckpointError(f'--ritm-model {e}') from None


def mask_objects(folder: str | Path) -> int:
    """The largest object id in a folder of palette PNGs (to default --num-objects as the original does)."""
    return max(int(read_labels(p).max()) for p in mask_files(folder))


def open_video(video: str, num_objects: int, prop: str, fusion: str, s2m: str, device: str) -> Opened:
    """The session over a video with the given weights; SystemExit-worthy ValueError if files are missing."""
    message = missing_weights({'propagation': prop, 'fusion': fusion, 's2m': s2m})
    if message:
        raise ValueError(message)
    return Opened(Session.from_checkpoints(read_video(video), num_objects, prop, fusion, s2m, device=device))


def _latest(pattern: str) -> Path | None:
    """The checkpoint with the highest iteration number among files matching a glob (quickstart layout)."""
    found = glob.glob(str(pattern))
    return Path(max(found, key=lambda p: int(re.findall(r'_(\d+)\.pth$', p)[-1]))) if found else None


def quickstart_demo(root: Path, device: str) -> Opened | None:
    """The first held-out synthetic clip of a finished quickstart run with its trained networks, if there is one."""
    weights = {kind: _latest(root / 'saves' / f'*_{run}' / f'{run}_*.pth')
               for kind, run in (('propagation', 'prop_video'), ('fusion', 'fusion'), ('s2m', 's2m'))}
    clips = sorted((root / 'data' / 'davis' / 'JPEGImages' / '480p').glob('synth_val_*'))
    if not clips or None in weights.values():
        return None
    first_mask = root / 'data' / 'davis' / 'Annotations' / '480p' / clips[0].name / '00000.png'
    num_objects = max(int(read_labels(first_mask).max()), 1) if first_mask.is_file() else 2
    session = Session.from_checkpoints(read_video(clips[0]), num_objects, weights['propagation'], weights['fusion'],
                                       weights['s2m'], device=device)
    return Opened(session, f'Demo: the quickstart\'s synthetic clip {clips[0].name} and its networks, trained for a '
                           f'few CPU minutes ({root.relative_to(ROOT) if root.is_relative_to(ROOT) else root}).')


def synthetic_demo(device: str, num_objects: int = 2, frames: int = 24, size: tuple[int, int] = (240, 432),
                   seed: int = 0) -> Opened:
    """A generated clip with untrained light networks: the tool works, the masks are poor."""
    video, _ = render_video(np.random.default_rng(seed), frames, *size, num_objects, look='salient')
    torch.manual_seed(seed)
    nets = [network_class(kind)(**LIGHT_KWARGS[kind]).eval().to(device) for kind in ('propagation', 'fusion', 's2m')]
    return Opened(Session(video, num_objects, *nets, device=device),
                  'Demo with UNTRAINED light networks on a generated clip: the tool works, the masks are poor. '
                  'Run `make quickstart` for trained ones, or give real weights.')


def open_demo(device: str) -> Opened:
    """The quickstart's clip and networks if `make quickstart` has run, else the untrained synthetic demo."""
    return quickstart_demo(QUICKSTART, device) or synthetic_demo(device)


def check_port(host: str, port: int) -> None:
    """Fail early, with a clear message, if the port cannot be bound."""
    with socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise ValueError(f'cannot listen on {host}:{port} ({e.strerror}); pick another --port') from e
