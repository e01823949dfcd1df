"""Crash-safe writes: a reader sees either the old file (folder) or the complete new one, never a partial one."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text to a temporary file next to path, then rename it over path (atomic on POSIX).

    The file gets the usual permissions (0666 minus the umask), not mkstemp's private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


PARTIAL_SUFFIX = '.partial'


def is_partial_dir(name: str) -> bool:
    """True for the temporary folder name atomic_dir writes into (left behind only when the writer was killed)."""
    return name.startswith('.') and name.endswith(PARTIAL_SUFFIX)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder next to path; on success it replaces path in one rename, on error it is removed.

    A reader listing the parent sees either no folder, the old one or the complete new one; a killed writer leaves
    only the hidden `.<name>.partial` (is_partial_dir), never a half-written `path`, and the next writer of path
    starts by removing that leftover. One writer per path at a time."""
    path = Path(path)
    tmp = path.parent / f'.{path.name}{PARTIAL_SUFFIX}'
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
