"""The id-swap check of learning through memory: exchange objects 1 and 2 in the annotations of a DAVIS root and
propagate again. A network that follows its first-frame memory follows the swap: the same J&F against the swapped
truth and near 0 against the old one; one that assigns ids from appearance keeps its old answer."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import torch

from dataset.davis_reader import DAVISTestDataset
from evaluation.semi import evaluate_predictions, open_dataset, run_propagation
from util.image_io import read_labels
from util.palette import write_labels


def swap_labels(labels: np.ndarray, a: int = 1, b: int = 2) -> np.ndarray:
    """Label map with ids a and b exchanged."""
    out = labels.copy()
    out[labels == a], out[labels == b] = b, a
    return out


def write_swapped_root(davis: Path, out: Path, split: str = 'val') -> list[str]:
    """A DAVIS root at out holding the split's sequences with >= 2 objects, ids 1 and 2 exchanged in every
    annotation (frames linked, not copied); returns their names."""
    names = [seq.name for seq in DAVISTestDataset(davis, split=split) if seq.num_objects >= 2]
    if not names:
        raise ValueError(f'no {split} sequence of {davis} has two objects: the id-swap check needs at least one')
    shutil.rmtree(out, ignore_errors=True)
    (out / 'JPEGImages').mkdir(parents=True)
    os.symlink((davis / 'JPEGImages' / '480p').resolve(), out / 'JPEGImages' / '480p')
    for seq in DAVISTestDataset(davis, split=split):
        if seq.name in names:
            for path in seq.mask_paths.values():
                write_labels(out / 'Annotations' / '480p' / seq.name / path.name, swap_labels(read_labels(path)),
                             seq.palette)
    (out / 'ImageSets' / '2017').mkdir(parents=True)
    (out / 'ImageSets' / '2017' / f'{split}.txt').write_text(''.join(f'{n}\n' for n in names))
    return names


def id_swap_scores(prop_net: torch.nn.Module, davis: Path, work: Path, device: str | torch.device = 'cpu') -> dict:
    """Propagation on the two-object val sequences as given ('J&F') and with ids 1 and 2 swapped in the first
    frame, scored against the swapped truth ('J&F swapped', 'ratio' = swapped / given) and against the given truth
    ('J&F crossed').

    The network treats every object alike, so a correct implementation gives a ratio of 1 whatever it learned; what
    tells a network that reads its memory from one that ignores it is 'J&F crossed': near 0 when the predictions
    follow the given ids, as high as 'J&F' when ids come from appearance or chance.
    """
    names = write_swapped_root(davis, work / 'swapped_root')
    given = open_dataset('davis', davis, sequences=names)
    swapped = open_dataset('davis', work / 'swapped_root', sequences=names)
    run_propagation(prop_net, given, work / 'masks', device)
    run_propagation(prop_net, swapped, work / 'masks_swapped', device)
    scores = {'J&F': evaluate_predictions(given, work / 'masks'),
              'J&F swapped': evaluate_predictions(swapped, work / 'masks_swapped'),
              'J&F crossed': evaluate_predictions(given, work / 'masks_swapped')}
    scores = {k: float(table['J&F-Mean'].iloc[-1]) for k, table in scores.items()}
    return {'sequences': len(names), **scores, 'ratio': scores['J&F swapped'] / max(scores['J&F'], 1e-6)}
