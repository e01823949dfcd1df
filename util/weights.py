"""Reading and loading network weights: official MiVOS and RITM files, our training checkpoints, DDP files,
ImageNet init."""
from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

log = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]
_STAGE0_KEY = 'mask_rgb_encoder.conv1.weight'


class CheckpointError(ValueError):
    """A weight file that cannot be read or does not fit the network."""


def read_checkpoint(path: str | Path) -> dict:
    """torch.load onto the CPU with a clear error for missing or unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint not found: {path} (give the path of a .pth file)')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # torch raises many types for truncated / non-torch files
        raise CheckpointError(f'cannot read checkpoint {path}: {e.__class__.__name__}: {e}. '
                              'Is the file complete and saved with torch.save?') from e


def file_digest(path: str | Path) -> str:
    """'sha256:<hex>' of a weights file: identifies a model by its content, not by its path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint not found: {path} (give the path of a .pth file)')
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return f'sha256:{digest.hexdigest()}'


def is_ritm_file(obj: Mapping) -> bool:
    """A released RITM click-model file: {'config': {'class', 'params'}, 'state_dict'}."""
    return isinstance(obj.get('config'), Mapping) and isinstance(obj.get('state_dict'), Mapping)


def extract_state_dict(obj: Mapping) -> StateDict:
    """Plain state dict from an official file, a training checkpoint ({'network': ...}) or a DDP file."""
    if is_ritm_file(obj):
        raise CheckpointError("this is a RITM click-model file ({'config', 'state_dict'}), not MiVOS weights: "
                              "give it as the click model (--ritm-model / load_network('ritm', ...))")
    if 'network' in obj and isinstance(obj['network'], Mapping):
        obj = obj['network']
    sd = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in obj.items()}
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f'not a state dict: entries {bad[:5]} are not tensors')
    return sd


def orthogonal_channels(out_channels: int, in_channels: int, kh: int, kw: int) -> torch.Tensor:
    """A fresh orthogonally initialised [out, in, kh, kw] block (the original's channel-extension init)."""
    w = torch.empty(out_channels, in_channels, kh, kw)
    nn.init.orthogonal_(w)
    return w


def extend_input_channels(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Append orthogonally initialised input channels to a conv weight [O, I, kh, kw] -> [O, in_channels, kh, kw]."""
    o, i, kh, kw = weight.shape
    return torch.cat([weight, orthogonal_channels(o, in_channels - i, kh, kw).to(weight)], dim=1)


def _adapt_stage0(sd: StateDict, expected: StateDict) -> StateDict:
    """A stage-0 (single-object, 4-channel) memory encoder grows its 'others' input channel."""
    if _STAGE0_KEY in sd and _STAGE0_KEY in expected:
        have, want = sd[_STAGE0_KEY], expected[_STAGE0_KEY]
        if have.dim() == 4 and have.shape[1] < want.shape[1] and have.shape[0] == want.shape[0]:
            log.info('extending %s from %d to %d input channels (stage-0 weights)', _STAGE0_KEY,
                     have.shape[1], want.shape[1])
            sd = dict(sd)
            sd[_STAGE0_KEY] = extend_input_channels(have, want.shape[1])
    return sd


def describe_mismatch(sd: StateDict, expected: StateDict, limit: int = 10) -> str:
    """Human-readable list of missing, unexpected and mis-shaped keys ('' when everything fits)."""
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [f'{k}: file {list(sd[k].shape)} vs network {list(expected[k].shape)}'
              for k in expected if k in sd and sd[k].shape != expected[k].shape]
    parts = []
    for title, items in (('missing keys', missing), ('unexpected keys', unexpected), ('wrong shapes', shapes)):
        if items:
            more = f' ... (+{len(items) - limit} more)' if len(items) > limit else ''
            parts.append(f'{title} ({len(items)}): ' + ', '.join(items[:limit]) + more)
    return '; '.join(parts)


def load_weights(net: nn.Module, source: str | Path | Mapping, strict: bool = True) -> nn.Module:
    """Load weights into net from a path or dict; strict by default, with a message naming the offending keys."""
    name = str(source) if isinstance(source, (str, Path)) else 'state dict'
    sd = extract_state_dict(read_checkpoint(source) if isinstance(source, (str, Path)) else source)
    expected = net.state_dict()
    sd = _adapt_stage0(sd, expected)
    problem = describe_mismatch(sd, expected)
    if problem and strict:
        raise CheckpointError(f'{name} does not fit {type(net).__name__}: {problem}. '
                              'Check that the file belongs to this network and architecture.')
    if problem:
        log.warning('%s: loading non-strictly: %s', name, problem)
        sd = {k: v for k, v in sd.items() if k in expected and v.shape == expected[k].shape}
    net.load_state_dict(sd, strict=strict)
    return net


def imagenet_resnet_to_encoder(imagenet: StateDict, encoder: nn.Module, rename: Mapping[str, str] = {}) -> int:
    """Copy torchvision ResNet ImageNet tensors into an encoder with the same key names (after renaming stages).

    Extra input channels of conv1 get an orthogonal init; conv biases (absent in ImageNet files) keep their
    zero init; num_batches_tracked, layer4 and fc are skipped. Returns the number of tensors copied.
    """
    target = encoder.state_dict()
    copied = 0
    with torch.no_grad():
        for key, value in imagenet.items():
            stage, _, rest = key.partition('.')
            key = f'{rename[stage]}.{rest}' if stage in rename else key
            if key.endswith('num_batches_tracked') or key not in target:
                continue
            if key == 'conv1.weight' and value.shape[1] < target[key].shape[1]:
                value = extend_input_channels(value, target[key].shape[1])
            if value.shape != target[key].shape:
                raise CheckpointError(f'ImageNet tensor {key} has shape {list(value.shape)}, the encoder expects '
                                      f'{list(target[key].shape)}: is the file for the same ResNet depth?')
            target[key].copy_(value)
            copied += 1
    return copied


def init_propagation_from_imagenet(net: nn.Module, path: str | Path) -> None:
    """Initialise both propagation encoders from a local torchvision ResNet file (e.g. resnet50-19c8e357.pth)."""
    imagenet = extract_state_dict(read_checkpoint(path))
    for m in net.mask_rgb_encoder.modules():  # conv biases are not in ImageNet files: they start at zero
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            nn.init.zeros_(m.bias)
    n_mem = imagenet_resnet_to_encoder(imagenet, net.mask_rgb_encoder)
    n_query = imagenet_resnet_to_encoder(imagenet, net.rgb_encoder, rename={'layer1': 'res2'})
    if n_mem == 0 or n_query == 0:
        raise CheckpointError(f'{path} holds no ResNet tensors matching the encoders '
                              '(expected torchvision names conv1.weight, layer1.0.conv1.weight, ...)')
    log.info('ImageNet init from %s: %d memory-encoder and %d query-encoder tensors', path, n_mem, n_query)


def mirror_query_encoder(net: nn.Module, key_gain: float = 1.0) -> None:
    """Start the memory side of a propagation network as a copy of its query side: the memory encoder gets the
    query encoder's weights (its mask channels an orthogonal init, its conv biases zero) and the memory key
    projection the query key projection's.

    For training from scratch: then, as after ImageNet init of both encoders, query and memory keys of the same
    content agree and the memory read starts as a feature similarity instead of a random bilinear form, under which
    no memory value is read more than another and learning through memory barely starts. key_gain scales both
    key projections, sharpening that first read (a gain of 3 puts most of the weight on the most similar position).
    """
    query = {k: v.detach().clone() for k, v in net.rgb_encoder.state_dict().items()}
    for m in net.mask_rgb_encoder.modules():
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            nn.init.zeros_(m.bias)
    imagenet_resnet_to_encoder(query, net.mask_rgb_encoder, rename={'res2': 'layer1'})
    with torch.no_grad():
        net.kv_q_f16.key_proj.weight.mul_(key_gain)
        net.kv_q_f16.key_proj.bias.mul_(key_gain)
    net.kv_m_f16.key_proj.load_state_dict(net.kv_q_f16.key_proj.state_dict())


NETWORKS = {'propagation': ('model.propagation', 'PropagationNetwork'),
            'fusion': ('model.fusion', 'FusionNet'),
            's2m': ('model.s2m', 'S2M'),
            'ritm': ('model.ritm', 'HRNetISModel')}

RITM_CLASS = 'isegm.model.is_hrnet_model.HRNetModel'
# Config params of a RITM file that do not change the inference network, and the values our model assumes
# for the others it does not take.
_RITM_ANY = {'backbone_lr_mult', 'cpu_dist_maps'}
_RITM_FIXED = {'norm_layer': 'torch.nn.modules.batchnorm.BatchNorm2d', 'clicks_groups': None,
               'binary_prev_mask': False, 'conv_extend': False,
               'norm_mean_std': [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]}


def _plain(value):
    """Tuples -> lists, recursively, so that config values compare with JSON-like constants."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def ritm_constructor(config: Mapping, model: type[nn.Module]) -> dict:
    """Constructor arguments of `model` from a RITM file's config (`params`: {name: {'value': ...}})."""
    if config.get('class') != RITM_CLASS:
        raise CheckpointError(f"RITM model class {config.get('class')!r} is not supported (expected {RITM_CLASS})")
    accepted = set(inspect.signature(model).parameters)
    kwargs, unsupported = {}, []
    for name, param in config.get('params', {}).items():
        value = _plain(param['value'])
        if name in accepted:
            kwargs[name] = value
        elif name not in _RITM_ANY and (name not in _RITM_FIXED or value != _RITM_FIXED[name]):
            unsupported.append(f'{name}={value!r}')
    if unsupported:
        raise CheckpointError(f'RITM config options not supported: {", ".join(unsupported)}')
    return kwargs


# Light constructor arguments of the three networks (ResNet-18 encoders, narrow heads): seconds per clip on a CPU,
# for tests and the untrained demo of the annotation tool; checkpoints made with them carry these as 'model_kwargs'.
LIGHT_KWARGS = {'propagation': {'arch': 'resnet18', 'key_dim': 16, 'value_dim': 32, 'decoder_dims': [32, 16, 16]},
                'fusion': {'width': 8},
                's2m': {'arch': 'resnet18', 'head_channels': 16}}


def network_class(kind: str) -> type[nn.Module]:
    """The nn.Module class of 'propagation', 'fusion' or 's2m'."""
    if kind not in NETWORKS:
        raise ValueError(f'unknown network kind {kind!r}; expected one of {sorted(NETWORKS)}')
    module, name = NETWORKS[kind]
    return getattr(importlib.import_module(module), name)


def load_network(kind: str, path: str | Path, device: str | torch.device = 'cpu') -> nn.Module:
    """Build and load a network from a file: official files give the faithful network (a RITM file builds the
    variant its config names); our checkpoints carry their constructor arguments under 'model_kwargs' so light
    variants rebuild themselves. Returned in eval mode."""
    ckpt = read_checkpoint(path)
    try:
        if kind == 'ritm':
            if not is_ritm_file(ckpt):
                raise CheckpointError("not a RITM click-model file (expected {'config', 'state_dict'} as released "
                                      'by RITM, e.g. coco_lvis_h18s_itermask.pth); MiVOS weights go to '
                                      'propagation / fusion / s2m')
            model = network_class(kind)
            kwargs = ritm_constructor(ckpt['config'], model)
            try:
                net = model(**kwargs)
            except ValueError as e:  # an option the released models do not use
                raise CheckpointError(str(e)) from None
            return load_weights(net, ckpt['state_dict']).eval().to(device)
        kwargs = ckpt.get('model_kwargs', {}) if isinstance(ckpt.get('network'), Mapping) else {}
        state = extract_state_dict(ckpt)  # a wrong kind of file fails before the network is built
        return load_weights(network_class(kind)(**kwargs), state).eval().to(device)
    except CheckpointError as e:
        raise CheckpointError(f'{path}: {e}') from None
