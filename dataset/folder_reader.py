"""Any video as a folder of frames plus a mask of its first frame (the generic test-time input)."""
from __future__ import annotations

from pathlib import Path

from dataset.sequence import VideoSequence
from util.image_io import list_frames


def folder_sequence(frames_dir: str | Path, first_mask: str | Path, name: str | None = None,
                    min_frames: int = 1) -> VideoSequence:
    """frames_dir/*.jpg|png... in name order + a mask of frame 0 (any format util.image_io.read_labels reads)."""
    frames_dir, first_mask = Path(frames_dir), Path(first_mask)
    if not frames_dir.is_dir():
        raise FileNotFoundError(f'frames folder {frames_dir} does not exist')
    if not first_mask.is_file():
        raise FileNotFoundError(f'first-frame mask {first_mask} does not exist')
    frames = [p for p in list_frames(frames_dir) if p.resolve() != first_mask.resolve()]
    if len(frames) < min_frames:
        raise ValueError(f'{frames_dir} has {len(frames)} frames but at least {min_frames} are needed')
    return VideoSequence(name or frames_dir.name, frames, {0: first_mask})
