"""The accelerated backend keeps what it prepared and its conv timings; timings persist across processes."""
import json
import logging

import pytest
import torch
import torch.nn as nn

import accel.timing
from accel import AcceleratedBackend, ConvTimings
from inference import InferenceCore
from inference.backend import ReferenceBackend, ReferenceNetworks
from evaluation.benchmark import synthetic_clip
from model.propagation import PropagationNetwork
from util.tensor_util import one_hot


@pytest.fixture(scope='module')
def light_net():
    torch.manual_seed(0)
    return PropagationNetwork(arch='resnet18', key_dim=8, value_dim=16, decoder_dims=(16, 8, 8)).eval()


@pytest.fixture
def counted_timing(monkeypatch):
    """Timings that say 'Winograd' for wide convs without timing anything; the list counts the calls."""
    calls = []

    def fake(conv, h, w, baseline=None):
        calls.append((conv.in_channels, conv.out_channels, h, w))
        return conv.in_channels >= 16
    monkeypatch.setattr(accel.timing, 'winograd_is_faster', fake)
    return calls


@torch.no_grad()
def test_the_latest_network_is_reused_until_the_network_size_or_weights_change():
    net = PropagationNetwork(arch='resnet18', key_dim=8, value_dim=16, decoder_dims=(16, 8, 8)).eval()
    backend = AcceleratedBackend('winograd')
    first = backend.network(net, (32, 48))
    assert backend.network(net, (32, 48)) is first
    assert AcceleratedBackend('winograd').network(net, (32, 48)) is not first  # each backend keeps its own
    assert backend.timings.path == accel.timing.default_path()
    again = backend.network(net, (48, 48))
    assert again is not first
    net.decoder.pred.bias.add_(1)  # modified weights: the transformed copy is stale
    assert backend.network(net, (48, 48)) is not again


@torch.no_grad()
def test_cores_sharing_a_backend_prepare_once(light_net, counted_timing):
    frames, labels = synthetic_clip(t=4, h=32, w=48, k=1)
    backend = AcceleratedBackend(timings=ConvTimings())  # in memory: fake timings never reach the user's file
    cores = [InferenceCore(light_net, None, frames, 1, fusion='none', backend=backend) for _ in range(2)]
    assert cores[0].networks.net is cores[1].networks.net and len(counted_timing) == backend.timings.timed > 0
    outs = [core.interact(one_hot(labels[0], 1), 0) for core in cores]
    assert (outs[0] == outs[1]).all()


def test_reference_backend_runs_the_loaded_networks(light_net):
    networks = ReferenceBackend().prepare(light_net, None, (32, 48), torch.device('cpu'))
    assert isinstance(networks, ReferenceNetworks) and networks.prop_net is light_net
    assert not networks.time_major_memory


@torch.no_grad()
def test_conv_timings_are_stored_and_reused_by_a_later_process(light_net, counted_timing, tmp_path, caplog):
    path = tmp_path / 'timings.json'
    with caplog.at_level(logging.INFO, logger='accel.optimize'):
        AcceleratedBackend(timings=path).network(light_net, (32, 48))
    n = len(counted_timing)
    assert n > 0 and f'timed {n} convolution shapes for frames of 32x48 in' in caplog.text
    assert str(path) in caplog.text
    stored = json.loads(path.read_text())
    assert list(stored['environments']) == [accel.timing.environment()]
    assert len(stored['environments'][accel.timing.environment()]) == n
    fresh = ConvTimings(path)  # as a new process would
    AcceleratedBackend(timings=fresh).network(light_net, (32, 48))
    assert len(counted_timing) == n and fresh.timed == 0
    AcceleratedBackend(timings=path).network(light_net, (48, 48))  # a new size: timed and added
    assert len(counted_timing) > n
    assert len(json.loads(path.read_text())['environments'][accel.timing.environment()]) == len(counted_timing)


def test_timings_of_another_environment_or_an_unreadable_file_are_not_used(counted_timing, tmp_path, caplog,
                                                                           monkeypatch):
    conv = nn.Conv2d(16, 16, 3, padding=1)
    path = tmp_path / 'timings.json'
    timings = ConvTimings(path)
    assert timings.winograd_wins(conv, (8, 8))
    timings.save()
    monkeypatch.setattr(accel.timing, 'environment', lambda: 'another machine')
    other = ConvTimings(path)
    other.winograd_wins(conv, (8, 8))
    assert other.timed == 1  # timed again: the stored choice was made elsewhere
    other.save()
    assert len(json.loads(path.read_text())['environments']) == 2  # both kept
    path.write_text('{not json')
    with caplog.at_level(logging.WARNING, logger='accel.timing'):
        broken = ConvTimings(path)
        broken.winograd_wins(conv, (8, 8))
    assert broken.timed == 1 and 'ignoring the conv timings' in caplog.text
    broken.save()
    assert json.loads(path.read_text())['format'] == accel.timing.FORMAT
