"""DAVIS 2016/2017 test-set reader (val, test-dev): sequences of a split, lazily read.

Layout (a DAVIS 2017 root such as DAVIS/2017/trainval or DAVIS/2017/test-dev):
`JPEGImages/480p/<seq>/00000.jpg...`, palette `Annotations/480p/<seq>/00000.png...` (every frame for val, only
frame 0 for test-dev), `ImageSets/<year>/<split>.txt`.
year=2016 follows the original MiVOS/STM DAVIS-2016 reader: the same 2017-style folders with the list
`ImageSets/2016/<split>.txt` (shipped with DAVIS 2017 trainval), every non-zero label read as the single object 1.
"""
from __future__ import annotations

from pathlib import Path

from dataset.sequence import SequenceSet, VideoSequence


def _read_list(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f'sequence list {path} not found: give the DAVIS root that holds ImageSets/ '
                                f'(e.g. DAVIS/2017/trainval) and an existing year/split')
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class DAVISTestDataset(SequenceSet):
    """The sequences of one DAVIS split; sequences shorter than min_frames are skipped with a warning."""

    def __init__(self, root: str | Path, year: int = 2017, split: str = 'val', resolution: str = '480p',
                 min_frames: int = 1):
        if year not in (2016, 2017):
            raise ValueError(f'year must be 2016 or 2017, got {year}')
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f'DAVIS root {self.root} does not exist (expected e.g. DAVIS/2017/trainval)')
        self.image_dir = self.root / 'JPEGImages' / resolution
        self.mask_dir = self.root / 'Annotations' / resolution
        for d in (self.image_dir, self.mask_dir):
            if not d.is_dir():
                raise FileNotFoundError(f'{d} not found: {self.root} is not a DAVIS root with {resolution} data')
        self.binary = year == 2016
        listing = self.root / 'ImageSets' / str(year) / f'{split}.txt'
        self._collect(_read_list(listing), min_frames, f'ImageSets/{year}/{split}.txt')

    def sequence(self, name: str) -> VideoSequence:
        """One sequence; annotations must exist for frame 0 only (test-dev) or for every frame (val)."""
        frames, masks = self._frames_and_masks(name, 'sequence')
        if len(masks) not in (1, len(frames)):
            raise ValueError(f'{self.mask_dir / name} has {len(masks)} masks for {len(frames)} frames in '
                             f'{self.image_dir / name}: give either the first-frame mask only or one per frame')
        by_stem = {f.stem: i for i, f in enumerate(frames)}
        missing = [m.name for m in masks if m.stem not in by_stem]
        if missing or masks[0].stem != frames[0].stem:
            raise ValueError(f'masks {missing or [masks[0].name]} in {self.mask_dir / name} do not match the frame '
                             f'names of {self.image_dir / name} (first frame {frames[0].name})')
        return VideoSequence(name, frames, {by_stem[m.stem]: m for m in masks}, binary=self.binary)
