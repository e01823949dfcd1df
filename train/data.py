"""Training sets of each recipe (facts §e), built from the config's data roots after checking they exist."""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from torch.utils.data import ConcatDataset, Dataset

log = logging.getLogger(__name__)

# data.kind -> the config keys of the folders it reads (each also a CLI flag --<key>).
REQUIRED_ROOTS = {'static': ('static_root',), 'bl30k': ('bl_root',), 'main': ('yv_root', 'davis_root'),
                  's2m': ('static_root', 'lvis_root'), 'fusion_bl30k': ('bl_root', 'fusion_bl_root'),
                  'fusion_davis': ('davis_root', 'fusion_root')}


def check_roots(data_cfg: dict) -> None:
    """Fail at once, naming the flag, when a data folder of this recipe is missing."""
    kind = data_cfg['kind']
    if kind not in REQUIRED_ROOTS:
        raise ValueError(f'unknown data.kind {kind!r}; expected one of {sorted(REQUIRED_ROOTS)}')
    for key in REQUIRED_ROOTS[kind]:
        path = Path(data_cfg[key])
        if not path.is_dir():
            raise FileNotFoundError(f'--{key} {path} is not a folder (resolved: {path.resolve()}). Download or '
                                    f'generate the data there, or pass --{key} <folder> (data.{key}).')


def load_factory(spec: str) -> Callable[[dict], Dataset]:
    """'package.module:function' -> the function."""
    module, sep, name = spec.partition(':')
    if not sep:
        raise ValueError(f"data.factory must look like 'package.module:function', got {spec!r}")
    return getattr(importlib.import_module(module), name)


def max_skip_setter(dataset: Dataset) -> Callable[[int], None] | None:
    """A function setting the max jump of every video dataset inside (Concat)dataset, or None if there is none."""
    leaves = dataset.datasets if isinstance(dataset, ConcatDataset) else [dataset]
    targets = [d for d in leaves if hasattr(d, 'set_max_skip')]
    if not targets:
        return None

    def set_max_skip(skip: int) -> None:
        for d in targets:
            d.set_max_skip(skip)
    return set_max_skip


def build_dataset(cfg: dict) -> Dataset:
    """The recipe's training set: data.factory(cfg) if given, else the built-in set of data.kind."""
    data_cfg = cfg['data']
    if data_cfg.get('factory'):
        return load_factory(data_cfg['factory'])(cfg)
    check_roots(data_cfg)
    return BUILTIN[data_cfg['kind']](data_cfg)
