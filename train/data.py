"""Training sets of each recipe (docs/mivos.md), built from the config's data roots after checking they exist."""
from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from pathlib import Path

from torch.utils.data import Dataset

from dataset.fusion_dataset import FusionDataset
from dataset.s2m_dataset import build_s2m_mixture
from dataset.static_dataset import StaticPseudoVideoDataset, concat_repeated, static_mixture_folders
from dataset.vos_dataset import build_bl30k, build_stage2_mixture, set_max_skip, video_sets

# data.kind -> the config keys of the folders it needs (each also a CLI flag --<key>); OPTIONAL_ROOTS may be null.
REQUIRED_ROOTS = {'static': ('static_root',), 'bl30k': ('bl_root',), 'main': ('yv_root', 'davis_root'),
                  's2m': ('static_root',), 'fusion_bl30k': ('bl_root', 'fusion_bl_root'),
                  'fusion_davis': ('davis_root', 'fusion_root')}
OPTIONAL_ROOTS = {'s2m': ('lvis_root',)}


def check_roots(data_cfg: dict) -> None:
    """Fail at once, naming the flag, when a data folder of this recipe is missing."""
    kind = data_cfg['kind']
    if kind not in REQUIRED_ROOTS:
        raise ValueError(f'unknown data.kind {kind!r}; expected one of {sorted(REQUIRED_ROOTS)}')
    keys = REQUIRED_ROOTS[kind] + tuple(k for k in OPTIONAL_ROOTS.get(kind, ()) if data_cfg[k] is not None)
    for key in keys:
        path = Path(data_cfg[key])
        if not path.is_dir():
            flag = '--' + key.replace('_', '-')
            raise FileNotFoundError(f'{flag} {path} is not a folder (resolved: {path.resolve()}). Download or '
                                    f'generate the data there, or pass {flag} <folder> (data.{key}).')


def davis_trainval(root: str | Path) -> Path:
    """The DAVIS 2017 folder holding JPEGImages/480p: root/2017/trainval, or root itself (e.g. synthetic data)."""
    root = Path(root)
    nested = root / '2017' / 'trainval'
    return nested if (nested / 'JPEGImages').is_dir() else root


def load_factory(spec: str) -> Callable[[dict], Dataset]:
    """'package.module:function' -> the function."""
    module, sep, name = spec.partition(':')
    if not sep:
        raise ValueError(f"data.factory must look like 'package.module:function', got {spec!r}")
    return getattr(importlib.import_module(module), name)


def max_skip_setter(dataset: Dataset) -> Callable[[int], None] | None:
    """The curriculum hook of a set with video sets inside (dataset.vos_dataset.set_max_skip), or None."""
    return functools.partial(set_max_skip, dataset) if any(video_sets(dataset)) else None


def _static(d: dict, first_skip: int) -> Dataset:
    return concat_repeated(static_mixture_folders(d['static_root']),
                           functools.partial(StaticPseudoVideoDataset, size=d['crop']))


def _bl30k(d: dict, first_skip: int) -> Dataset:
    return build_bl30k(d['bl_root'], first_skip, size=d['crop'])


def _main(d: dict, first_skip: int) -> Dataset:
    return build_stage2_mixture(d['yv_root'], d['davis_root'], first_skip, size=d['crop'])


def _s2m(d: dict, first_skip: int) -> Dataset:
    return build_s2m_mixture(d['static_root'], d['lvis_root'], size=d['crop'], interaction=d['interaction'])


def _fusion_bl30k(d: dict, first_skip: int) -> Dataset:
    bl = Path(d['bl_root'])
    return FusionDataset(d['fusion_bl_root'], bl / 'JPEGImages', bl / 'Annotations', size=d['crop'])


def _fusion_davis(d: dict, first_skip: int) -> Dataset:
    davis = davis_trainval(d['davis_root'])
    return FusionDataset(d['fusion_root'], davis / 'JPEGImages' / '480p', davis / 'Annotations' / '480p',
                         size=d['crop'])


BUILTIN = {'static': _static, 'bl30k': _bl30k, 'main': _main, 's2m': _s2m, 'fusion_bl30k': _fusion_bl30k,
           'fusion_davis': _fusion_davis}


def build_dataset(cfg: dict) -> Dataset:
    """The recipe's training set: data.factory(cfg) if given, else the built-in set of data.kind."""
    data_cfg = cfg['data']
    if data_cfg.get('factory'):
        return load_factory(data_cfg['factory'])(cfg)
    check_roots(data_cfg)
    first_skip = cfg['curriculum']['max_skip'][0] if cfg.get('curriculum') else 5
    return BUILTIN[data_cfg['kind']](data_cfg, first_skip)
