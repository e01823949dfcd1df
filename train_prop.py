"""Train the MiVOS propagation network: `python train_prop.py --stage NAME` or `torchrun --nproc_per_node N train_prop.py ...`."""
from __future__ import annotations

from train.cli import run
from util.cli import run_main


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train with the recipe and overrides given in argv; returns the last reported loss / IoU / lr / p."""
    return run('propagation', argv)


if __name__ == '__main__':
    run_main(main)
