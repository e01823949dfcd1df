"""Train the MiVOS s2m network: `python train_s2m.py --stage NAME` or `torchrun --nproc_per_node N train_s2m.py ...`."""
from __future__ import annotations

from train.cli import run
from util.cli import run_main


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train with the recipe and overrides given in argv; returns the last reported loss / IoU / lr / p."""
    return run('s2m', argv)


if __name__ == '__main__':
    run_main(main)
