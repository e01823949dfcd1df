"""Crash-safe writes: a reader sees either the old file or the complete new one, never a partial file; atomic_dir
does the same for a folder.

Every output a reader could see half-written (checkpoints, masks, videos, JSON / CSV results, generated data)
goes through atomic_write: the content is written to a temporary name unique to the writing process
(`.<name>.<random>.tmp`) in the target folder, then renamed over the target. On failure the temporary
file is removed and the old file stays; a full disk is reported as "no space left on <folder>".
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


class OutputError(OSError):
    """An output file or folder that cannot be written (read-only folder, full disk, ...)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def describe_os_error(e: OSError, path: str | Path) -> str:
    """One line naming the cause of a failed write to path and what to do."""
    folder = Path(path).parent
    if e.errno == errno.ENOSPC:
        return f'no space left on {folder} while writing {Path(path).name}; free disk space or choose another folder'
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f'cannot write {path}: permission denied (read-only?); choose a writable output folder'
    return f'cannot write {path}: {e.strerror or e}; check the output folder'


def atomic_write_path(path: str | Path, write: Callable[[Path], None], suffix: str = '.tmp') -> Path:
    """write(tmp) creates the content at a temporary name `.<name>.<random><suffix>` next to path (writers that
    choose the format by the file name, e.g. OpenCV, pass suffix='.tmp.mp4'), which is then renamed over path
    (atomic on POSIX). Parents are created; the file gets the usual permissions (0666 minus the umask), not
    mkstemp's private 0600."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix=suffix)
        os.close(fd)
    except OSError as e:
        raise OutputError(e.errno, describe_os_error(e, path)) from e
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        cause = _os_error(e)
        if cause is not None and not isinstance(e, OutputError):
            raise OutputError(cause.errno, describe_os_error(cause, path)) from e
        raise
    return path


def _os_error(e: BaseException | None) -> OSError | None:
    """The OSError behind an exception (writers such as torch.save wrap a failed write in their own error)."""
    while e is not None and not isinstance(e, OSError):
        e = e.__cause__ or e.__context__
    return e


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], durable: bool = False) -> Path:
    """write(f) fills a binary file object; the result replaces path atomically. durable=True also forces the
    data to disk before the rename (checkpoints: the rename then survives a power cut too)."""
    def to_file(tmp: Path) -> None:
        with open(tmp, 'wb') as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
    return atomic_write_path(path, to_file)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text (UTF-8) to path atomically."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def require_writable_dir(folder: str | Path, what: str = 'output folder') -> Path:
    """Create folder if needed and check that a file can be written in it, before any long work starts."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix='.write_test.')
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = 'it is not a folder' if e.errno in (errno.EEXIST, errno.ENOTDIR) else (e.strerror or str(e))
        raise OutputError(e.errno, f'cannot write to the {what} {folder}: {reason}; choose a writable folder') from e
    return folder


PARTIAL_SUFFIX = '.partial'


def is_partial_dir(name: str) -> bool:
    """True for the temporary folder name atomic_dir writes into (left behind only when the writer was killed)."""
    return name.startswith('.') and name.endswith(PARTIAL_SUFFIX)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder next to path; on success it is swapped in for path, on error removed.

    A reader listing the parent sees either no folder, the old one or the complete new one; a killed writer leaves
    only the hidden `.<name>.partial` (is_partial_dir), never a half-written `path`, and the next writer of path
    starts by removing that leftover. The old folder is set aside and removed only after the swap, so a failure
    keeps it. One writer per path at a time."""
    path = Path(path)
    tmp, old = path.parent / f'.{path.name}{PARTIAL_SUFFIX}', path.parent / f'.{path.name}.old'
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            old.rename(path)
        raise
    shutil.rmtree(old, ignore_errors=True)
