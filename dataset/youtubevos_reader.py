"""YouTubeVOS test-set reader (valid / test layout): all frames, masks only where objects first appear.

Layout: `<root>/JPEGImages/<video>/<frame>.jpg`, palette `<root>/Annotations/<video>/<frame>.png` for the frames
where some object first appears, optional `<root>/meta.json` ({"videos": {vid: {"objects": {id: {"frames": [...]}}}}}).
When meta.json exists its video list is used and every object it names must appear in the annotations.
"""
from __future__ import annotations

import json
from pathlib import Path

from dataset.sequence import SequenceSet, VideoSequence


class YouTubeVOSTestDataset(SequenceSet):
    """The videos of a YouTubeVOS valid/test folder; videos shorter than min_frames are skipped with a warning."""

    def __init__(self, root: str | Path, min_frames: int = 1):
        self.root = Path(root)
        self.image_dir, self.mask_dir = self.root / 'JPEGImages', self.root / 'Annotations'
        for d in (self.root, self.image_dir, self.mask_dir):
            if not d.is_dir():
                raise FileNotFoundError(f'{d} not found: give a YouTubeVOS valid/test folder holding JPEGImages/ '
                                        f'and Annotations/')
        meta_path = self.root / 'meta.json'
        self.meta: dict | None = None
        if meta_path.is_file():
            try:
                self.meta = json.loads(meta_path.read_text())['videos']
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f'{meta_path} is not YouTubeVOS meta data ({{"videos": {{...}}}}): {e}') from e
            names = sorted(self.meta)
        else:
            names = sorted(p.name for p in self.image_dir.iterdir() if p.is_dir())
        if not names:
            raise FileNotFoundError(f'no videos in {self.image_dir}')
        self._collect(names, min_frames, str(meta_path) if self.meta is not None else str(self.image_dir))

    def sequence(self, name: str) -> VideoSequence:
        """One video; each mask must be named like a frame; objects come from all its masks."""
        frames, masks = self._frames_and_masks(name, 'video')
        by_stem = {f.stem: i for i, f in enumerate(frames)}
        missing = [m.name for m in masks if m.stem not in by_stem]
        if missing:
            raise ValueError(f'masks {missing} in {self.mask_dir / name} have no frame of the same name in '
                             f'{self.image_dir / name}')
        seq = VideoSequence(name, frames, {by_stem[m.stem]: m for m in masks}, objects_from_all_masks=True)
        if self.meta is not None:
            expected = {int(k) for k in self.meta[name].get('objects', {})}
            if not expected <= set(seq.object_ids):
                raise ValueError(f'meta.json lists objects {sorted(expected)} for {name!r} but its masks in '
                                 f'{self.mask_dir / name} contain {seq.object_ids}')
        return seq
