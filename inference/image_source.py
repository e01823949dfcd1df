"""Frame sources that keep a video on disk and decode one frame when it is needed (bounded memory)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')


class ImageFolder:
    """A folder of frame images (sorted by name) read lazily as uint8 RGB [H,W,3]; usable as InferenceCore images."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f'frame folder not found: {self.folder} (give a folder of .jpg/.png frames)')
        self.paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ValueError(f'no .jpg/.jpeg/.png frames in {self.folder}')
        first = self[0]
        self.shape = (len(self.paths), *first.shape)  # [T, H, W, 3]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, ti: int) -> np.ndarray:
        with Image.open(self.paths[ti]) as im:
            frame = np.array(im.convert('RGB'))  # writable, owned copy
        if hasattr(self, 'shape') and frame.shape != self.shape[1:]:
            raise ValueError(f'frame {self.paths[ti]} is {frame.shape[:2]}, the first frame is {self.shape[1:3]}: '
                             'all frames of a video must have the same size')
        return frame
