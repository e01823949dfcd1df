"""The one error path of every entry point (train_*.py, eval_*.py, scripts/*.py).

An expected failure (bad argument, bad or missing file, missing device, unwritable output, full disk) is raised
as a ValueError (UsageError, ConfigError, DatasetError, CheckpointError, ...) or an OSError with a message that
names the cause and what to do; run_main prints it as one line `error: ...` and exits with status 2. Anything
else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import torch

EXIT_USAGE = 2


class UsageError(ValueError):
    """A command-line argument or input file that cannot be used; the message says what to do."""


def spellings(*flags: str) -> tuple[str, ...]:
    """Names of one command-line flag: each long option as given (with dashes) followed by its underscore spelling,
    the original MiVOS scripts' (`--prop-model`, `--prop_model`), which stays accepted."""
    names = []
    for flag in flags:
        names.append(flag)
        if flag.startswith('--') and '-' in flag[2:]:
            names.append('--' + flag[2:].replace('-', '_'))
    return tuple(names)


def fail(message: str) -> NoReturn:
    """Print one line naming the problem and exit non-zero."""
    print(f'error: {message}', file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def error_message(e: BaseException) -> str:
    """The user-facing line of an expected failure."""
    if isinstance(e, OSError) and e.strerror:
        return f'{e.strerror}: {e.filename}' if e.filename is not None else e.strerror
    text = str(e)
    if 'Original Traceback' in text:  # re-raised from a DataLoader worker: its last line is the original message
        text = text.strip().splitlines()[-1].partition(': ')[2] or text
    return text


def run_main(main: Callable[..., Any], argv: list[str] | None = None) -> Any:
    """Run an entry point's main(argv): expected failures become one line and exit status 2, Ctrl-C exits 130."""
    try:
        return main(argv)
    except (ValueError, OSError) as e:
        fail(error_message(e))
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        raise SystemExit(130) from None


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda', 'cuda:1', ... -> a device that exists here, or a UsageError saying what to use instead."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f'--device {name!r} is not a device name; use cpu, cuda or cuda:N') from None
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise UsageError(f'--device {name}: CUDA is not available on this machine; use --device cpu')
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f'--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s); '
                             f'use cuda:0..cuda:{torch.cuda.device_count() - 1}')
    elif device.type != 'cpu':
        raise UsageError(f'--device {name}: only cpu and cuda devices are supported')
    return device


def positive(kind: type = int) -> Callable[[str], Any]:
    """An argparse type accepting numbers > 0 (e.g. --mem-freq, --fps)."""
    import argparse

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a {kind.__name__}, got {text!r}') from None
        if not value > 0 or value != value or value == float('inf'):
            raise argparse.ArgumentTypeError(f'must be a finite number > 0, got {text!r}')
        return value
    parse.__name__ = kind.__name__
    return parse
