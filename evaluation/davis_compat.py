"""Run davisinteractive 1.0.4 (the DAVIS interactive evaluation) on today's numpy/pandas/networkx/scikit-image.

The package is unmaintained and breaks on numpy >= 1.24 (np.int/np.float), numpy 2.4 (np.trapz), networkx 3
(from_scipy_sparse_matrix), pandas 2/3 (object columns in the report), Cython 3 + numpy 2 (NPY_OWNDATA) and is
non-deterministic on scikit-image >= 0.19 (medial_axis seeds from OS entropy). `patch_davisinteractive` repairs it
at run time without touching numpy or networkx for the rest of the process; every step is a no-op where the
installed library still has the old behaviour. `registered_sequences` makes it evaluate custom DAVIS-format data.
Import davisinteractive only after `patch_davisinteractive()`.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import types
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from util.image_io import read_labels

log = logging.getLogger(__name__)

# Every module of the package, imported up front so default arguments such as `dtype=np.int` bind while the
# aliases exist (docs/davis_protocol.md).
DAVIS_MODULES = (
    'dataset.davis', 'metrics.jaccard', 'utils.mask', 'utils.operations', 'utils.scribbles',
    'utils.visualization', 'robot.interactive_robot', 'storage.abstract', 'storage.local', 'evaluation.service',
    'third_party.mask_api.mask', 'connector.abstract', 'connector.local', 'connector.remote', 'connector.fabric',
    'session.session',
)
LOCAL_SUBSETS = ('train', 'val', 'trainval')
# Column dtypes of LocalStorage's two tables (pandas 3 would otherwise make every column object).
REPORT_DTYPES = {
    'session_id': object, 'sequence': object, 'scribble_idx': 'int64', 'interaction': 'int64',
    'object_id': 'int64', 'frame': 'int64', 'jaccard': 'float64', 'contour': 'float64', 'j_and_f': 'float64',
    'timing': 'float64', 'override': bool,
}
SUMMARY_INT_COLUMNS = ('interaction', 'scribble_idx', 'object_id')
SUMMARY_FLOAT_COLUMNS = ('jaccard', 'contour', 'j_and_f', 'timing')
NPY_ARRAY_OWNDATA = 4  # value of numpy's C flag, looked up by name by the Cython-3-built RLE codec

_state: dict[str, Any] = {'patched': False, 'robot_seed': None, 'medial_axis': None}


class _ModuleProxy(types.ModuleType):
    """A module that forwards every attribute to `target` except a few extra names it carries itself."""

    def __init__(self, target: types.ModuleType, extras: dict[str, Any]):
        super().__init__(target.__name__)
        self._target = target
        self.__dict__.update(extras)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def _missing(module: types.ModuleType, names: dict[str, Any]) -> dict[str, Any]:
    """The subset of `names` the module lacks (deprecated-but-present aliases count as present)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return {k: v for k, v in names.items() if not hasattr(module, k)}


def _numpy_extras() -> dict[str, Any]:
    """Removed numpy names davisinteractive uses, mapped to their modern equivalents."""
    return _missing(np, {'int': int, 'float': float, 'bool': bool, 'trapz': getattr(np, 'trapezoid', None)})


def _import_all_with_aliases(extras: dict[str, Any]) -> dict[str, types.ModuleType]:
    """Import every davisinteractive module with the numpy aliases set, then remove the aliases again."""
    for k, v in extras.items():
        setattr(np, k, v)
    try:
        return {m: importlib.import_module(f'davisinteractive.{m}') for m in DAVIS_MODULES}
    finally:
        for k in extras:
            delattr(np, k)


def _swap_globals(modules: dict[str, types.ModuleType], np_extras: dict[str, Any]) -> None:
    """Give each module a numpy proxy (and the robot a networkx proxy) carrying the removed names."""
    import networkx
    np_proxy = _ModuleProxy(np, np_extras) if np_extras else None
    nx_extras = _missing(networkx, {'from_scipy_sparse_matrix': getattr(networkx, 'from_scipy_sparse_array', None)})
    for mod in modules.values():
        if np_proxy is not None and getattr(mod, 'np', None) is np:
            mod.np = np_proxy
        if nx_extras and getattr(mod, 'nx', None) is networkx:
            mod.nx = _ModuleProxy(networkx, nx_extras)
    mask_ext = importlib.import_module('davisinteractive.third_party.mask_api._mask')
    ext_extras = _missing(np, {'NPY_OWNDATA': NPY_ARRAY_OWNDATA})
    if ext_extras and getattr(mask_ext, 'np', None) is np:
        mask_ext.np = _ModuleProxy(np, ext_extras)


def _typed_summarize_report(original: Callable) -> Callable:
    """summarize_report on the numeric columns only, with proper dtypes (pandas >= 2 refuses text columns)."""
    import pandas as pd

    @functools.wraps(original)
    def summarize_report(self, df):
        df = df[['sequence', *SUMMARY_INT_COLUMNS, *SUMMARY_FLOAT_COLUMNS]].copy()
        for c in SUMMARY_INT_COLUMNS:
            df[c] = pd.to_numeric(df[c]).astype('int64')
        for c in SUMMARY_FLOAT_COLUMNS:
            df[c] = pd.to_numeric(df[c]).astype('float64')
        return original(self, df)

    summarize_report._compat_original = original
    return summarize_report


def _typed_storage_init(original: Callable) -> Callable:
    """LocalStorage.__init__ whose empty tables carry dtypes, so pandas 3 keeps the report numeric."""
    import pandas as pd

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        for name, table in list(vars(self).items()):
            if isinstance(table, pd.DataFrame) and table.empty:
                setattr(self, name, pd.DataFrame({c: pd.Series(dtype=REPORT_DTYPES.get(c, object))
                                                  for c in table.columns}))

    __init__._compat_original = original
    return __init__


def _seeded(medial_axis: Callable, seed: int) -> Callable | None:
    """medial_axis with a fixed tie-breaking seed (None if this scikit-image takes no seed: already fixed)."""
    params = inspect.signature(medial_axis).parameters
    key = 'rng' if 'rng' in params else 'random_state' if 'random_state' in params else None
    if key is None:
        return None

    @functools.wraps(medial_axis)
    def seeded_medial_axis(*args, **kwargs):
        kwargs.setdefault(key, seed)
        return medial_axis(*args, **kwargs)

    return seeded_medial_axis


def _refuse_download(kind: str) -> Callable:
    """A stand-in for Davis._download_*: fail clearly instead of fetching the official DAVIS archives."""

    def refuse(self, *args, **kwargs):
        raise FileNotFoundError(
            f'davisinteractive wanted to download the official DAVIS {kind} because a file is missing under '
            f'{getattr(self, "davis_root", "?")} (it needs Annotations/480p/<seq>/00000.png... and '
            f'Scribbles/<seq>/001.json... for every sequence of the subset). Downloads are disabled: put the '
            f'files there, or evaluate only the sequences you have with evaluation.davis_compat.registered_sequences.')

    return refuse


def _wrap_once(owner: type, name: str, wrapper_factory: Callable) -> None:
    """Replace owner.name by wrapper_factory(original) unless it is already our wrapper."""
    current = owner.__dict__[name]
    if not hasattr(current, '_compat_original'):
        setattr(owner, name, wrapper_factory(current))


def patch_davisinteractive(robot_seed: int | None = 0) -> None:
    """Make davisinteractive 1.0.4 import and run on the current stack; robot_seed fixes the robot (None: OS entropy).

    Idempotent: calling it again only changes the robot seed if a different one is given.
    """
    if not _state['patched']:
        np_extras = _numpy_extras()
        modules = _import_all_with_aliases(np_extras)
        _swap_globals(modules, np_extras)
        from davisinteractive.dataset.davis import Davis
        from davisinteractive.evaluation.service import EvaluationService
        from davisinteractive.storage.local import LocalStorage
        _wrap_once(EvaluationService, 'summarize_report', _typed_summarize_report)
        _wrap_once(LocalStorage, '__init__', _typed_storage_init)
        Davis._download_scribbles = _refuse_download('scribbles')
        Davis._download_annotations = _refuse_download('annotations')
        _state['medial_axis'] = modules['robot.interactive_robot'].medial_axis
        _state['patched'] = True
        log.debug('davisinteractive patched (numpy extras: %s)', sorted(np_extras))
    robot = importlib.import_module('davisinteractive.robot.interactive_robot')
    original = _state['medial_axis']
    seeded = None if robot_seed is None else _seeded(original, robot_seed)
    robot.medial_axis = seeded or original
    _state['robot_seed'] = robot_seed


# ---------------------------------------------------------------------------------------------------------------
# Custom DAVIS-format data (docs/davis_protocol.md)

def _annotation_dir(davis_root: Path, name: str) -> Path:
    return davis_root / 'Annotations' / '480p' / name


def sequence_facts(davis_root: str | Path, name: str) -> dict[str, Any]:
    """The registry facts of one sequence read from disk: num_frames, image_size [W,H], num_objects, num_scribbles."""
    davis_root = Path(davis_root)
    ann_dir = _annotation_dir(davis_root, name)
    if not ann_dir.is_dir():
        raise FileNotFoundError(f'no annotation folder {ann_dir} for sequence {name!r}: a DAVIS-format root needs '
                                f'Annotations/480p/<sequence>/00000.png, 00001.png, ...')
    pngs = sorted(ann_dir.glob('*.png'))
    expected = [f'{i:05d}.png' for i in range(len(pngs))]
    if not pngs or [p.name for p in pngs] != expected:
        raise ValueError(f'{ann_dir} must hold annotations named 00000.png ... without gaps (davisinteractive '
                         f'builds the names from the count); found {[p.name for p in pngs][:5]}...')
    labels = [read_labels(p) for p in pngs]
    sizes = {lab.shape for lab in labels}
    if len(sizes) != 1:
        raise ValueError(f'annotations in {ann_dir} have different sizes {sorted(sizes)}; they must share one size')
    h, w = labels[0].shape
    num_objects = max(int(lab[lab != 255].max(initial=0)) for lab in labels)
    scribble_dir = davis_root / 'Scribbles' / name
    num_scribbles = 0
    while (scribble_dir / f'{num_scribbles + 1:03d}.json').is_file():
        num_scribbles += 1
    if num_scribbles == 0:
        raise FileNotFoundError(f'no initial scribbles {scribble_dir}/001.json for sequence {name!r}: every '
                                f'evaluated sequence needs Scribbles/<sequence>/001.json (002.json, ... optional)')
    return {'num_frames': len(pngs), 'image_size': [w, h], 'num_objects': num_objects,
            'num_scribbles': num_scribbles}


def list_subset(davis_root: str | Path, subset: str) -> list[str]:
    """Sequence names of a subset from ImageSets/2017/<subset>.txt ('trainval' = train + val)."""
    davis_root = Path(davis_root)
    parts = ('train', 'val') if subset == 'trainval' else (subset,)
    names: list[str] = []
    for part in parts:
        txt = davis_root / 'ImageSets' / '2017' / f'{part}.txt'
        if not txt.is_file():
            raise FileNotFoundError(f'{txt} not found: write the sequence names there (one per line) or pass '
                                    f'sequences=[...] explicitly')
        names += [line.strip() for line in txt.read_text().splitlines() if line.strip()]
    return names


@contextlib.contextmanager
def registered_sequences(davis_root: str | Path, subset: str = 'val',
                         sequences: Sequence[str] | None = None) -> Iterator[dict[str, dict[str, Any]]]:
    """Register custom DAVIS-format sequences as davisinteractive's `subset` while the block runs; yields their facts.

    The package only knows the official sequences (its bundled davis.json); this edits its process-global registry
    (Davis.dataset / Davis.sets) and restores it on exit. sequences=None reads ImageSets/2017/<subset>.txt.
    """
    if subset not in LOCAL_SUBSETS:
        raise ValueError(f'subset must be one of {LOCAL_SUBSETS} for a local evaluation, got {subset!r}')
    davis_root = Path(davis_root)
    if not davis_root.is_dir():
        raise FileNotFoundError(f'DAVIS root {davis_root} does not exist (it must contain Annotations/480p and '
                                f'Scribbles); davisinteractive would silently create it')
    if not (davis_root / 'Annotations' / '480p').is_dir():
        raise FileNotFoundError(f'{davis_root / "Annotations" / "480p"} not found: is {davis_root} a DAVIS 2017 '
                                f'root (e.g. DAVIS/2017/trainval)?')
    if not (davis_root / 'Scribbles').is_dir():
        raise FileNotFoundError(f'{davis_root / "Scribbles"} not found: the interactive evaluation needs the initial '
                                f'scribbles Scribbles/<sequence>/001.json (DAVIS interactive track files)')
    names = list(sequences) if sequences is not None else list_subset(davis_root, subset)
    if not names:
        raise ValueError(f'no sequences to register for subset {subset!r} under {davis_root}')
    facts = {n: sequence_facts(davis_root, n) for n in names}
    if not _state['patched']:
        patch_davisinteractive()
    from davisinteractive.dataset.davis import Davis
    old_names = list(Davis.sets[subset])
    old_entries = {n: Davis.dataset.get(n) for n in names}
    try:
        for n, f in facts.items():
            Davis.dataset[n] = {'name': n, 'set': subset, 'year': 2017, 'attributes': [], 'eval_t': False, **f}
        Davis.sets[subset] = list(names)
        yield facts
    finally:
        Davis.sets[subset] = old_names
        for n, entry in old_entries.items():
            if entry is None:
                Davis.dataset.pop(n, None)
            else:
                Davis.dataset[n] = entry
