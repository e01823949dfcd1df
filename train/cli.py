"""Command line shared by train_prop.py, train_s2m.py and train_fusion.py: recipe + overrides -> training run.

`--stage NAME` picks configs/<recipe>.yaml (or `--config FILE`), the original flags (-b, -i, --lr, --bl_root, ...)
and `--set key.sub=value` override it, then one Trainer runs in this process (one of N under torchrun).
"""
from __future__ import annotations

import argparse
import logging

from util.config import ConfigError, apply_overrides, load_config, set_key, stage_config_path
from util.weights import CheckpointError

log = logging.getLogger(__name__)

DEFAULT_STAGE = {'propagation': 'static', 's2m': 'main', 'fusion': 'bl30k'}
# Original flags that set one config key: (flags, key, argparse options).
COMMON_FLAGS = [
    (('-b', '--batch_size'), 'train.batch_size', {'type': int, 'help': 'GLOBAL batch (split over processes)'}),
    (('-i', '--iterations'), 'train.iterations', {'type': int}),
    (('--steps',), 'train.steps', {'type': int, 'nargs': '*', 'help': 'MultiStepLR milestones'}),
    (('--lr',), 'train.lr', {'type': float}),
    (('--gamma',), 'train.gamma', {'type': float}),
    (('--load_network',), 'init.load_network', {'help': 'weights only; the iteration counter starts at 0'}),
    (('--id',), 'log.id', {'help': 'run name under saves/; NULL disables logging and saving'}),
    (('--save_dir',), 'log.save_dir', {}),
    (('--benchmark',), 'train.benchmark', {'action': 'store_const', 'const': True, 'help': 'cudnn.benchmark'}),
    (('--amp',), 'train.amp', {'action': 'store_const', 'const': True, 'help': 'mixed precision (CUDA only)'}),
    (('--device',), 'train.device', {'choices': ['auto', 'cpu', 'cuda']}),
    (('--num_workers',), 'data.num_workers', {'type': int}),
]
TRAINER_FLAGS = {
    'propagation': [(('--static_root',), 'data.static_root', {}), (('--bl_root',), 'data.bl_root', {}),
                    (('--yv_root',), 'data.yv_root', {}), (('--davis_root',), 'data.davis_root', {}),
                    (('--imagenet',), 'init.imagenet', {'help': 'local torchvision resnet50-19c8e357.pth'})],
    's2m': [(('--static_root',), 'data.static_root', {}), (('--lvis_root',), 'data.lvis_root', {}),
            (('--interaction',), 'data.interaction', {'choices': ['scribbles', 'clicks', 'mixed']}),
            (('--load_deeplab',), 'init.deeplab', {'help': 'local VainF DeepLabV3+ ResNet-50 checkpoint'})],
    'fusion': [(('--davis_root',), 'data.davis_root', {}), (('--bl_root',), 'data.bl_root', {}),
               (('--fusion_root',), 'data.fusion_root', {}), (('--fusion_bl_root',), 'data.fusion_bl_root', {}),
               (('--load_prop',), 'prop.checkpoint', {'help': 'propagation weights (required)'})],
}


def build_parser(trainer: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=f'Train the MiVOS {trainer} network (recipes in configs/).')
    parser.add_argument('--stage', help=f'recipe name (default {DEFAULT_STAGE[trainer]})')
    parser.add_argument('--config', help='a YAML recipe file instead of --stage (e.g. configs/prop_static_cpu.yaml)')
    parser.add_argument('--resume', '--load_model', dest='resume',
                        help='a *_checkpoint.pth: continue exactly where it stopped')
    parser.add_argument('--set', dest='overrides', action='append', default=[], metavar='KEY=VALUE',
                        help='override any config value, e.g. --set train.lr=2e-5 (repeatable)')
    parser.add_argument('--stop_at', type=int, help='save and exit after this iteration (continue with --resume)')
    parser.add_argument('--debug', action='store_true', help='report every iteration')
    for flags, key, options in COMMON_FLAGS + TRAINER_FLAGS[trainer]:
        parser.add_argument(*flags, dest=key, default=None, **options)
    return parser


def resolve_config(trainer: str, argv: list[str] | None) -> tuple[dict, argparse.Namespace]:
    """Recipe file, then flags, then --set overrides; checks the recipe belongs to this trainer."""
    parser = build_parser(trainer)
    args = parser.parse_args(argv)
    if args.config and args.stage:
        raise ConfigError('give either --stage or --config, not both')
    path = args.config or stage_config_path(trainer, args.stage or DEFAULT_STAGE[trainer])
    cfg = load_config(path)
    if cfg.get('trainer') != trainer:
        raise ConfigError(f'{path} is a recipe for the {cfg.get("trainer")!r} trainer, not {trainer!r}')
    for flags, key, _ in COMMON_FLAGS + TRAINER_FLAGS[trainer]:
        value = getattr(args, key)
        if value is not None:
            try:
                set_key(cfg, key, value)
            except ConfigError:
                raise ConfigError(f'{flags[-1]} is not used by the recipe {path} (stage {cfg.get("stage")})') from None
    if args.debug:
        set_key(cfg, 'log.report_interval', 1)
    return apply_overrides(cfg, args.overrides), args


def run(trainer: str, argv: list[str] | None = None) -> dict[str, float]:
    """Parse, build and train; user errors (missing data, bad config or checkpoint) exit with a clear message."""
    import torch

    from dataset.image_io import DatasetError
    from train.distributed import init_distributed, seed_everything, shutdown_distributed
    from train.loop import Trainer
    from train.tasks.build import BUILDERS

    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    try:
        cfg, args = resolve_config(trainer, argv)
        env = init_distributed(cfg['train']['device'])
    except (ConfigError, RuntimeError, ValueError) as e:
        raise SystemExit(f'error: {e}') from None
    threads = torch.get_num_threads()
    try:
        torch.backends.cudnn.benchmark = bool(cfg['train']['benchmark'])
        if cfg['train'].get('threads'):  # CPU recipes: leave the other core to the data worker
            torch.set_num_threads(cfg['train']['threads'])
        seed_everything(cfg['train']['seed'])
        task = BUILDERS[trainer](cfg, env)
        return Trainer(task, cfg, env, resume=args.resume).run(stop_at=args.stop_at)
    except (FileNotFoundError, NotADirectoryError, CheckpointError, ConfigError, DatasetError) as e:
        raise SystemExit(f'error: {e}') from None
    finally:
        torch.set_num_threads(threads)  # callers in the same process (the quickstart) get their threads back
        shutdown_distributed()
