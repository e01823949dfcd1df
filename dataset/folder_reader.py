"""Any video as a folder of frames plus a mask of its first frame (the generic test-time input)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dataset.sequence import VideoSequence
from util.palette import read_labels
from util.video import list_frames


def folder_sequence(frames_dir: str | Path, first_mask: str | Path, name: str | None = None,
                    min_frames: int = 1) -> VideoSequence:
    """frames_dir/*.jpg|png... in name order + a palette PNG of frame 0 (or a 0/255 grayscale one-object mask)."""
    frames_dir, first_mask = Path(frames_dir), Path(first_mask)
    if not frames_dir.is_dir():
        raise FileNotFoundError(f'frames folder {frames_dir} does not exist')
    if not first_mask.is_file():
        raise FileNotFoundError(f'first-frame mask {first_mask} does not exist')
    frames = [p for p in list_frames(frames_dir) if p.resolve() != first_mask.resolve()]
    if len(frames) < min_frames:
        raise ValueError(f'{frames_dir} has {len(frames)} frames but at least {min_frames} are needed')
    values = set(np.unique(read_labels(first_mask)).tolist())
    grayscale_binary = values <= {0, 255} and 255 in values
    return VideoSequence(name or frames_dir.name, frames, {0: first_mask}, binary=grayscale_binary)
