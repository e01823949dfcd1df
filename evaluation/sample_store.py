"""Per-sample results of an interactive DAVIS run, one JSON file each, written atomically (crash-safe, resumable).

A sample is (sequence, scribble_idx). Its file holds the session's report rows of that sample (the package's
scores) and our per-round timing. The run's settings are stored once; a resumed run must use the same ones.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from util.files import atomic_write_text

log = logging.getLogger(__name__)

Sample = tuple[str, int]  # (sequence, scribble_idx)
REPORT_COLUMNS = ['session_id', 'sequence', 'scribble_idx', 'interaction', 'object_id', 'frame', 'jaccard',
                  'contour', 'j_and_f', 'timing']


@dataclass
class RoundRecord:
    """What our method did in one round of a sample, and how long each part took (seconds)."""
    round: int
    frame: int | None  # annotated frame (None: the robot drew nothing and nothing was done)
    propagated: bool
    clicks: int | None  # number of simulated clicks (None for scribbles)
    interaction_s: float  # scribbles / clicks / ground truth -> mask (S2M, RITM)
    propagation_s: float  # propagation + fusion, or the mask-only update


class SampleStore:
    """`<output>/samples/<sequence>__<idx>.json` per finished sample plus `<output>/settings.json`."""

    def __init__(self, output: str | Path, settings: Mapping[str, Any], resume: bool):
        self.output = Path(output)
        self.folder = self.output / 'samples'
        settings_path = self.output / 'settings.json'
        if settings_path.is_file():
            if not resume:
                raise FileExistsError(f'{self.output} already holds a run ({settings_path}); pass --resume to '
                                      f'continue it, or choose another --output folder')
            saved = json.loads(settings_path.read_text())
            changed = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
            if changed:
                raise ValueError(f'--resume with settings different from the run in {self.output}: '
                                 + ', '.join(f'{k}: {a!r} -> {b!r}' for k, (a, b) in changed.items())
                                 + '; use the same options or another --output folder')
        else:
            atomic_write_text(settings_path, json.dumps(dict(settings), indent=1))
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, sample: Sample) -> Path:
        return self.folder / f'{sample[0]}__{sample[1]:03d}.json'

    def done(self, sample: Sample) -> bool:
        return self.path(sample).is_file()

    def save(self, sample: Sample, report: pd.DataFrame, rounds: Iterable[RoundRecord], **facts: Any) -> None:
        """Store one finished sample (its report rows and round records) in one atomic write."""
        record = {'sequence': sample[0], 'scribble_idx': sample[1], **facts,
                  'rounds': [asdict(r) for r in rounds],
                  'report': json.loads(report[REPORT_COLUMNS].to_json(orient='split', index=False))}
        atomic_write_text(self.path(sample), json.dumps(record))

    def load(self, sample: Sample) -> dict[str, Any]:
        try:
            return json.loads(self.path(sample).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f'cannot read sample results {self.path(sample)}: {e}; delete the file to recompute '
                             f'that sample with --resume') from e

    def report(self, samples: Iterable[Sample]) -> pd.DataFrame:
        """The merged session report of the given (finished) samples, in the package's column order and dtypes."""
        frames = []
        for sample in samples:
            split = self.load(sample)['report']
            frames.append(pd.DataFrame(split['data'], columns=split['columns']))
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REPORT_COLUMNS)
        for c in ('scribble_idx', 'interaction', 'object_id', 'frame'):
            df[c] = pd.to_numeric(df[c]).astype('int64')
        for c in ('jaccard', 'contour', 'j_and_f', 'timing'):
            df[c] = pd.to_numeric(df[c]).astype('float64')
        return df

    def rounds(self, samples: Iterable[Sample]) -> pd.DataFrame:
        """One row per round of the given samples: our timing records."""
        rows = [{'sequence': s[0], 'scribble_idx': s[1], **r} for s in samples for r in self.load(s)['rounds']]
        return pd.DataFrame(rows)
