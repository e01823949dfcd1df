"""One test video as file paths, read frame by frame on demand (a long video is never held in memory)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from util.image_io import ImageFolder, list_frames, read_labels, read_palette

log = logging.getLogger(__name__)


@dataclass
class VideoSequence:
    """A video with annotations on some frames: uint8 RGB frames [H,W,3] and uint8 label maps [H,W], lazily read.

    mask_paths maps frame index -> annotation PNG (every frame for DAVIS val, frame 0 for DAVIS test-dev / a
    folder, the frames where objects first appear for YouTubeVOS). With binary=True every non-zero label reads
    as object 1 (DAVIS 2016). The objects come from the first annotation only (as DAVIS defines them), or from
    every annotation with objects_from_all_masks=True (YouTubeVOS, where objects appear later).
    """
    name: str
    frame_paths: list[Path]
    mask_paths: dict[int, Path]
    binary: bool = False
    objects_from_all_masks: bool = False
    video: ImageFolder = field(init=False)           # the frames, read one at a time
    size: tuple[int, int] = field(init=False)        # (H, W), from frame 0
    palette: np.ndarray = field(init=False)          # [256,3] uint8, from the first annotation
    object_ids: list[int] = field(init=False)        # ids present in the annotations (255 = void excluded)
    first_appearance: dict[int, int] = field(init=False)  # object id -> first annotated frame showing it

    def __post_init__(self) -> None:
        if not self.frame_paths:
            raise ValueError(f'sequence {self.name!r} has no frames')
        if not self.mask_paths:
            raise ValueError(f'sequence {self.name!r} has no annotation; the first frame needs a mask')
        bad = [i for i in self.mask_paths if not 0 <= i < len(self.frame_paths)]
        if bad:
            raise ValueError(f'sequence {self.name!r}: annotations for frames {bad} beyond its '
                             f'{len(self.frame_paths)} frames ({self.frame_paths[0].parent})')
        self.video = ImageFolder(self.frame_paths)
        self.size = self.video.shape[1:3]
        first = min(self.mask_paths)
        self.palette = read_palette(self.mask_paths[first])
        self.first_appearance = {}
        for i in (self.annotated_frames if self.objects_from_all_masks else [first]):
            for k in np.unique(self.labels(i)).tolist():
                if k not in (0, 255):
                    self.first_appearance.setdefault(k, i)
        self.object_ids = sorted(self.first_appearance)

    @property
    def num_objects(self) -> int:
        """Highest object id (ids are 1..K in DAVIS and YouTubeVOS)."""
        return max(self.object_ids, default=0)

    @property
    def annotated_frames(self) -> list[int]:
        return sorted(self.mask_paths)

    def __len__(self) -> int:
        return len(self.frame_paths)

    def frame(self, i: int) -> np.ndarray:
        """Frame i as uint8 RGB [H,W,3]."""
        return self.video[i]

    def labels(self, i: int) -> np.ndarray:
        """Annotation of frame i as uint8 labels [H,W] (0 = background, 255 = void)."""
        if i not in self.mask_paths:
            raise KeyError(f'frame {i} of {self.name!r} has no annotation (annotated: {self.annotated_frames})')
        path = self.mask_paths[i]
        lab = read_labels(path)
        if lab.shape != self.size:
            raise ValueError(f'mask {path} is {lab.shape[1]}x{lab.shape[0]} but the frames of {self.name!r} are '
                             f'{self.size[1]}x{self.size[0]}; masks must have the size of their frames')
        if self.binary:
            lab = (lab != 0).astype(np.uint8)
        return lab

    def frames(self) -> Iterator[np.ndarray]:
        """All frames in order, one at a time."""
        return iter(self.video)


class SequenceSet:
    """Named sequences under `image_dir`, read lazily by `sequence(name)`; short ones are skipped and counted."""

    image_dir: Path
    mask_dir: Path
    names: list[str]
    skipped: list[str]

    def _collect(self, names: list[str], min_frames: int, source: str) -> None:
        """Keep the names with at least min_frames frames (warning for each skipped one); source names the list."""
        self.names, self.skipped = [], []
        for name in names:
            folder = self.image_dir / name
            if not folder.is_dir():
                raise FileNotFoundError(f'{name!r} of {source} has no frames folder {folder}')
            n = len(list_frames(folder))
            if n < min_frames:
                log.warning('skipping %s: %d frames, fewer than the %d needed', folder, n, min_frames)
                self.skipped.append(name)
            else:
                self.names.append(name)
        if self.skipped:
            log.warning('skipped %d of %d sequences shorter than %d frames', len(self.skipped), len(names), min_frames)

    def sequence(self, name: str) -> VideoSequence:
        raise NotImplementedError

    def _frames_and_masks(self, name: str, kind: str) -> tuple[list[Path], list[Path]]:
        """The frame files of sequence `name` and its annotation PNGs (sorted; an error if there are none)."""
        mask_folder = self.mask_dir / name
        masks = sorted(mask_folder.glob('*.png')) if mask_folder.is_dir() else []
        if not masks:
            raise FileNotFoundError(f'no annotation PNGs in {mask_folder} for {kind} {name!r}')
        return list_frames(self.image_dir / name), masks

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> VideoSequence:
        return self.sequence(self.names[i])

    def __iter__(self) -> Iterator[VideoSequence]:
        return (self.sequence(n) for n in self.names)
