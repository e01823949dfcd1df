"""Builders turning a resolved config into a Task (training module + data) for each trainer."""
from __future__ import annotations

import logging

import torch.nn as nn

from train.data import build_dataset, max_skip_setter
from train.distributed import DistEnv
from train.loop import Task
from util.config import ConfigError
from util.weights import init_propagation_from_imagenet, load_network, load_weights, mirror_query_encoder

log = logging.getLogger(__name__)


def loss_schedule(cfg: dict) -> dict:
    """BootstrappedCE arguments; fusion gives its warm-up as fractions of the stage's iterations (docs/mivos.md)."""
    loss, iterations = cfg['loss'], cfg['train']['iterations']
    if 'start_warm_frac' in loss:
        return {'start_warm': round(loss['start_warm_frac'] * iterations),
                'end_warm': round(loss['end_warm_frac'] * iterations), 'top_p': loss['top_p']}
    return {'start_warm': loss['start_warm'], 'end_warm': loss['end_warm'], 'top_p': loss['top_p']}


def build_propagation(cfg: dict, env: DistEnv) -> Task:
    """Stage 0/1/2 propagation training; ImageNet init and/or earlier-stage weights from local files."""
    from train.tasks.propagation import PropagationTraining
    dataset = build_dataset(cfg)
    module = PropagationTraining(cfg['model'], **loss_schedule(cfg), frozen_bn=cfg['train']['frozen_bn'])
    if cfg['init']['imagenet']:
        init_propagation_from_imagenet(module.network, cfg['init']['imagenet'])
    if cfg['init'].get('mirror_key_gain'):  # from scratch: the memory side starts as a copy of the query side
        mirror_query_encoder(module.network, cfg['init']['mirror_key_gain'])
    if cfg['init']['load_network']:
        load_weights(module.network, cfg['init']['load_network'])  # stage 0 -> 1 grows the 'others' channel
    return Task(module, dataset, max_skip_setter(dataset))


def build_s2m(cfg: dict, env: DistEnv) -> Task:
    """S2M training; DeepLabV3+ init from a local VainF file; SyncBatchNorm under multi-GPU DDP."""
    from train.tasks.s2m import S2MTraining
    dataset = build_dataset(cfg)
    module = S2MTraining(cfg['model'], **loss_schedule(cfg))
    if cfg['init']['deeplab']:
        from util.s2m_init import init_s2m_from_deeplab
        init_s2m_from_deeplab(module.network, cfg['init']['deeplab'])
    if cfg['init']['load_network']:
        load_weights(module.network, cfg['init']['load_network'])
    if env.distributed:
        if env.device.type == 'cuda':
            module.network = nn.SyncBatchNorm.convert_sync_batchnorm(module.network)
        else:
            log.warning('SyncBatchNorm needs CUDA: on CPU each process normalises with its own batch statistics')
    return Task(module, dataset)


def build_fusion(cfg: dict, env: DistEnv) -> Task:
    """Fusion training on top of a frozen propagation network read from prop.checkpoint."""
    from train.tasks.fusion import FusionTraining
    if not cfg['prop']['checkpoint']:
        raise ConfigError('the fusion trainer needs the propagation weights: pass --load-prop <file.pth>')
    dataset = build_dataset(cfg)
    prop_net = load_network('propagation', cfg['prop']['checkpoint'])
    module = FusionTraining(cfg['model'], prop_net, **loss_schedule(cfg))
    if cfg['init']['load_network']:
        load_weights(module.network, cfg['init']['load_network'])
    return Task(module, dataset)


BUILDERS = {'propagation': build_propagation, 's2m': build_s2m, 'fusion': build_fusion}
