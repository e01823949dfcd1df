"""Command line shared by train_prop.py, train_s2m.py and train_fusion.py: recipe + overrides -> training run.

`--stage NAME` picks configs/<recipe>.yaml (or `--config FILE`), the original flags (-b, -i, --lr, --bl-root, ...)
and `--set key.sub=value` override it, then one Trainer runs in this process (one of N under torchrun).
"""
from __future__ import annotations

import argparse
import copy
import logging
import math

from util.cli import spellings
from util.config import ConfigError, apply_overrides, get_key, load_config, set_key, stage_config_path
from util.weights import CheckpointError, read_checkpoint

log = logging.getLogger(__name__)

DEFAULT_STAGE = {'propagation': 'static', 's2m': 'main', 'fusion': 'bl30k'}
# Original flags that set one config key: (flags, key, argparse options).
COMMON_FLAGS = [
    (('-b', '--batch-size'), 'train.batch_size', {'type': int, 'help': 'GLOBAL batch (split over processes)'}),
    (('-i', '--iterations'), 'train.iterations', {'type': int}),
    (('--steps',), 'train.steps', {'type': int, 'nargs': '*', 'help': 'MultiStepLR milestones'}),
    (('--lr',), 'train.lr', {'type': float}),
    (('--gamma',), 'train.gamma', {'type': float}),
    (('--load-network',), 'init.load_network', {'help': 'weights only; the iteration counter starts at 0'}),
    (('--id',), 'log.id', {'help': 'run name under saves/; NULL disables logging and saving'}),
    (('--save-dir',), 'log.save_dir', {}),
    (('--benchmark',), 'train.benchmark', {'action': 'store_const', 'const': True, 'help': 'cudnn.benchmark'}),
    (('--amp',), 'train.amp', {'action': 'store_const', 'const': True, 'help': 'mixed precision (CUDA only)'}),
    (('--device',), 'train.device', {'choices': ['auto', 'cpu', 'cuda']}),
    (('--num-workers',), 'data.num_workers', {'type': int}),
]
TRAINER_FLAGS = {
    'propagation': [(('--static-root',), 'data.static_root', {}), (('--bl-root',), 'data.bl_root', {}),
                    (('--yv-root',), 'data.yv_root', {}), (('--davis-root',), 'data.davis_root', {}),
                    (('--imagenet',), 'init.imagenet', {'help': 'local torchvision resnet50-19c8e357.pth'})],
    's2m': [(('--static-root',), 'data.static_root', {}), (('--lvis-root',), 'data.lvis_root', {}),
            (('--interaction',), 'data.interaction', {'choices': ['scribbles', 'clicks', 'mixed']}),
            (('--load-deeplab',), 'init.deeplab', {'help': 'local VainF DeepLabV3+ ResNet-50 checkpoint'})],
    'fusion': [(('--davis-root',), 'data.davis_root', {}), (('--bl-root',), 'data.bl_root', {}),
               (('--fusion-root',), 'data.fusion_root', {}), (('--fusion-bl-root',), 'data.fusion_bl_root', {}),
               (('--load-prop',), 'prop.checkpoint', {'help': 'propagation weights (required)'})],
}


def build_parser(trainer: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=f'Train the MiVOS {trainer} network (recipes in configs/).')
    parser.add_argument('--stage', help=f'recipe name (default {DEFAULT_STAGE[trainer]})')
    parser.add_argument('--config', help='a YAML recipe file instead of --stage (e.g. configs/prop_static_cpu.yaml)')
    parser.add_argument('--resume', *spellings('--load-model'), dest='resume',
                        help='a *_checkpoint.pth: continue exactly where it stopped')
    parser.add_argument('--set', dest='overrides', action='append', default=[], metavar='KEY=VALUE',
                        help='override any config value, e.g. --set train.lr=2e-5 (repeatable)')
    parser.add_argument(*spellings('--stop-at'), type=int,
                        help='save and exit after this iteration (continue with --resume)')
    parser.add_argument('--debug', action='store_true', help='report every iteration')
    for flags, key, options in COMMON_FLAGS + TRAINER_FLAGS[trainer]:
        parser.add_argument(*spellings(*flags), dest=key, default=None, **options)
    return parser


# Settings --resume may change (applied and logged); any other change would break the optimiser state, the data
# order or the model, so it is refused (model changes by the checkpoint check that names the mismatch).
RESUMABLE = ('train.lr', 'train.steps', 'train.gamma', 'train.iterations', 'train.device', 'train.benchmark',
             'data.num_workers', 'log.')
# Scalar settings checked before anything is built: key -> (type, smallest allowed value, what it is).
LIMITS = {'train.batch_size': (int, 1, 'a whole number >= 1'), 'train.iterations': (int, 1, 'a whole number >= 1'),
          'train.lr': (float, 0, 'a number > 0'), 'train.gamma': (float, 0, 'a number > 0'),
          'train.weight_decay': (float, 0, 'a number >= 0'), 'train.seed': (int, 0, 'a whole number >= 0'),
          'data.num_workers': (int, 0, 'a whole number >= 0'), 'data.crop': (int, 16, 'a whole number >= 16'),
          'log.report_interval': (int, 1, 'a whole number >= 1'), 'log.image_interval': (int, 1, 'a whole number >= 1'),
          'log.save_interval': (int, 1, 'a whole number >= 1')}
STRICTLY_POSITIVE = ('train.lr', 'train.gamma')


def check_config(cfg: dict) -> None:
    """Types and ranges of the numeric settings, so that `--lr -1` or `--set train.lr=abc` fail at once."""
    for key, (kind, low, what) in LIMITS.items():
        try:
            value = get_key(cfg, key)
        except (KeyError, TypeError):
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (kind is float or float(value).is_integer())
        ok = ok and (value > low if key in STRICTLY_POSITIVE else value >= low)
        if not ok:
            raise ConfigError(f'{key} must be {what}, got {value!r}')
    steps = cfg.get('train', {}).get('steps')
    if steps is not None and not (isinstance(steps, list) and all(isinstance(s, int) and s >= 0 for s in steps)):
        raise ConfigError(f'train.steps must be a list of iterations (whole numbers >= 0), got {steps!r}')


def _recipe(trainer: str, args: argparse.Namespace) -> tuple[dict, str, bool]:
    """The base settings, where they come from, and whether they are those of the --resume checkpoint (else the
    recipe of --stage / --config)."""
    if args.config and args.stage:
        raise ConfigError('give either --stage or --config, not both')
    if args.resume:
        ckpt = read_checkpoint(args.resume)
        cfg = ckpt.get('config') if isinstance(ckpt, dict) else None
        if isinstance(cfg, dict):
            if cfg.get('trainer') != trainer:
                raise CheckpointError(f'{args.resume} was written by the {cfg.get("trainer")!r} trainer, not '
                                      f'{trainer!r}')
            if args.config or args.stage:
                log.info('--resume continues with the settings stored in %s; --stage / --config are not used',
                         args.resume)
            return cfg, str(args.resume), True
    path = args.config or stage_config_path(trainer, args.stage or DEFAULT_STAGE[trainer])
    cfg = load_config(path)
    if cfg.get('trainer') != trainer:
        raise ConfigError(f'{path} is a recipe for the {cfg.get("trainer")!r} trainer, not {trainer!r}')
    return cfg, str(path), False


def resolve_config(trainer: str, argv: list[str] | None) -> tuple[dict, argparse.Namespace]:
    """Recipe file (or, with --resume, the checkpoint's settings), then flags, then --set overrides; checks the
    recipe belongs to this trainer, the values' types and ranges, and which settings a resumed run may change."""
    parser = build_parser(trainer)
    args = parser.parse_args(argv)
    base, source, resumed = _recipe(trainer, args)
    cfg = copy.deepcopy(base)
    for flags, key, _ in COMMON_FLAGS + TRAINER_FLAGS[trainer]:
        value = getattr(args, key)
        if value is not None:
            try:
                set_key(cfg, key, value)
            except ConfigError:
                raise ConfigError(f'{flags[-1]} is not used by the recipe {source} (stage {cfg.get("stage")})') from None
    if args.debug:
        set_key(cfg, 'log.report_interval', 1)
    cfg = apply_overrides(cfg, args.overrides)
    check_config(cfg)
    if resumed:
        check_resume_changes(base, cfg, args.resume)
    return cfg, args


def _leaves(cfg: dict, prefix: str = '') -> dict[str, object]:
    """{'a.b': value} for every leaf of a nested dict."""
    out: dict[str, object] = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.update(_leaves(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def check_resume_changes(saved: dict, cfg: dict, resume: str) -> None:
    """Refuse settings a resumed run cannot honour (those outside RESUMABLE; model settings are checked against
    the checkpoint's network later); the resumable ones are applied by the Trainer, which logs them."""
    old, new = _leaves(saved), _leaves(cfg)
    refused = [k for k in new if new[k] != old.get(k) and not k.startswith('model.')
               and not any(k == r or (r.endswith('.') and k.startswith(r)) for r in RESUMABLE)]
    if refused:
        changes = ', '.join(f'{k}: {old.get(k)!r} -> {new[k]!r}' for k in refused)
        raise ConfigError(f'--resume cannot change {changes} (the optimiser state and data order of {resume} '
                          f'depend on it); resume without it, or start a new run from the weights with '
                          f'--load-network {resume}')


def run(trainer: str, argv: list[str] | None = None) -> dict[str, float]:
    """Parse, check, build and train. Expected failures raise ValueError / OSError subclasses with a message that
    says what to do (util.cli.run_main prints them as one line)."""
    import torch

    from train.distributed import init_distributed, seed_everything, shutdown_distributed
    from train.loop import Trainer
    from train.tasks.build import BUILDERS

    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    cfg, args = resolve_config(trainer, argv)
    env = init_distributed(cfg['train']['device'])
    threads = torch.get_num_threads()
    try:
        torch.backends.cudnn.benchmark = bool(cfg['train']['benchmark'])
        if cfg['train'].get('threads'):  # CPU recipes: leave the other core to the data worker
            torch.set_num_threads(cfg['train']['threads'])
        seed_everything(cfg['train']['seed'])
        task = BUILDERS[trainer](cfg, env)
        return Trainer(task, cfg, env, resume=args.resume).run(stop_at=args.stop_at)
    finally:
        torch.set_num_threads(threads)  # callers in the same process (the quickstart) get their threads back
        shutdown_distributed()
