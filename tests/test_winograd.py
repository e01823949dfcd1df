"""Winograd F(4x4,3x3) convolutions equal the direct ones and replace exactly the convs they should."""
import logging
import shutil

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from accel import AcceleratedBackend, ConvTimings, native
from accel.optimize import optimize_for_inference
from accel.timing import winograd_is_faster
from accel.winograd import WinogradConv2d, WinogradKeyValue, WinogradResBlock, is_eligible
from inference import InferenceCore
from evaluation.benchmark import synthetic_clip
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from model.propagation.decoder import ResBlock
from model.propagation.encoders import KeyValue
from util.tensor_util import one_hot


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.fixture(params=['native', 'torch'])
def transforms(request, monkeypatch):
    """Run the tile transforms as the native kernels (built here: this machine has a C compiler) or as the
    PyTorch fallback that runs wherever they cannot be built."""
    if request.param == 'native':
        if shutil.which('cc') is None:
            pytest.skip('no C compiler on this machine: the native kernels cannot be built')
        assert native.load() is not None, 'the native Winograd kernels failed to build (see the logged warning)'
    else:
        monkeypatch.setattr(native, 'load', lambda *args: None)
    return request.param


@torch.no_grad()
@pytest.mark.parametrize('n,cin,cout,h,w', [(1, 16, 8, 5, 7), (2, 32, 24, 15, 27), (1, 8, 1, 1, 1), (3, 4, 4, 8, 12),
                                            (1, 64, 64, 30, 54), (2, 70, 130, 9, 14)])
@pytest.mark.parametrize('relu_input', [False, True])
@pytest.mark.parametrize('bias', [True, False])
def test_winograd_conv_equals_the_direct_conv(n, cin, cout, h, w, relu_input, bias, transforms):
    torch.manual_seed(cin + h)
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=bias)
    x = torch.randn(n, cin, h, w)
    ref = conv(F.relu(x) if relu_input else x)
    out = WinogradConv2d(conv, relu_input=relu_input)(x)
    assert out.shape == ref.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert rel_err(out, ref) < 2e-5  # float32 Winograd error, ~1e-5 of the output scale at most
    channels_last_input = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(WinogradConv2d(conv, relu_input)(channels_last_input), out, rtol=0, atol=0)


@torch.no_grad()
@pytest.mark.parametrize('residual_batch', [None, 1, 2])
@pytest.mark.parametrize('relu_output', [False, True])
def test_winograd_conv_fuses_the_residual_add_and_output_relu(residual_batch, relu_output, transforms):
    torch.manual_seed(3)
    conv = nn.Conv2d(70, 72, 3, padding=1)
    x = torch.randn(2, 70, 11, 18)
    residual = None if residual_batch is None else torch.randn(residual_batch, 72, 11, 18)
    ref = conv(x) + (0 if residual is None else residual)
    ref = F.relu(ref) if relu_output else ref
    out = WinogradConv2d(conv, relu_output=relu_output)(x, residual)
    assert rel_err(out, ref) < 2e-5
    with pytest.raises(ValueError, match='residual must be'):
        WinogradConv2d(conv)(x, torch.randn(3, 72, 11, 18))


@torch.no_grad()
@pytest.mark.parametrize('indim,outdim', [(32, 32), (48, 24)])
def test_winograd_res_block_equals_the_decoder_res_block(indim, outdim, transforms):
    torch.manual_seed(4)
    block = ResBlock(indim, outdim)
    x = torch.randn(2, indim, 13, 21)
    assert rel_err(WinogradResBlock(block)(x), block(x)) < 3e-5


@torch.no_grad()
def test_native_transforms_split_across_threads_give_the_same_result():
    if native.load() is None:
        pytest.skip('no native kernels on this machine')
    conv = WinogradConv2d(nn.Conv2d(64, 64, 3, padding=1))
    x = torch.randn(1, 64, 40, 52)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = conv(x, x)
        torch.set_num_threads(3)
        torch.testing.assert_close(conv(x, x), one, rtol=0, atol=0)  # transforms are per tile: exact
    finally:
        torch.set_num_threads(threads)


def test_native_kernels_build_once_into_the_cache_and_fall_back_with_a_message(tmp_path, monkeypatch, caplog):
    if shutil.which('cc') is None:
        pytest.skip('no C compiler on this machine')
    monkeypatch.setenv('MIVOS_KERNEL_CACHE', str(tmp_path / 'kernels'))
    native.load.cache_clear()
    try:
        assert native.load() is not None
        built = list((tmp_path / 'kernels').glob('winograd_f43-*.so'))
        assert len(built) == 1
        stamp = built[0].stat().st_mtime_ns
        native.load.cache_clear()
        assert native.load() is not None and built[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
        native.load.cache_clear()
        monkeypatch.setenv('CC', str(tmp_path / 'no-such-compiler'))
        with caplog.at_level(logging.WARNING, logger='accel.native'):
            assert native.load() is None
        assert 'no C compiler' in caplog.text and 'PyTorch versions run instead' in caplog.text
        native.load.cache_clear()
        monkeypatch.setenv('CC', 'cc')
        broken = tmp_path / 'csrc'
        broken.mkdir()
        (broken / 'winograd_f43.c').write_text('this is not C\n')
        monkeypatch.setattr(native, 'SOURCES', broken)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger='accel.native'):
            assert native.load() is None
        assert 'could not be built' in caplog.text and 'winograd_f43.c' in caplog.text
        native.load.cache_clear()
        monkeypatch.setenv('MIVOS_NATIVE', '0')
        assert native.load() is None
    finally:
        native.load.cache_clear()  # the next caller builds / finds the real kernels again


@torch.no_grad()
def test_fused_key_value_projection_equals_the_two_convs():
    kv = KeyValue(64, 16, 32)
    x = torch.randn(2, 64, 7, 10)
    keys, values = kv(x)
    wk, wv = WinogradKeyValue(kv.key_proj, kv.val_proj)(x)
    assert wk.is_contiguous() and wv.is_contiguous()
    assert rel_err(wk, keys) < 2e-5 and rel_err(wv, values) < 2e-5


def test_winograd_conv_refuses_inputs_that_need_gradients():
    conv = WinogradConv2d(nn.Conv2d(4, 4, 3, padding=1))
    with pytest.raises(RuntimeError, match='inference-only'):
        conv(torch.randn(1, 4, 8, 8, requires_grad=True))


def test_interact_needs_no_grad_mode_from_the_caller(light_net):
    frames, labels = synthetic_clip(t=3, h=32, w=48, k=1)
    core = InferenceCore(light_net, None, frames, 1, fusion='none', backend=AcceleratedBackend('winograd'))
    with torch.enable_grad():
        assert core.interact(one_hot(labels[0], 1), 0).shape == (3, 32, 48)
    assert not core.prob.requires_grad


def test_only_plain_3x3_stride_1_convs_are_eligible():
    assert is_eligible(nn.Conv2d(4, 4, 3, padding=1))
    for conv in (nn.Conv2d(4, 4, 3, padding=1, stride=2), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, padding=2, dilation=2),
                 nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect'),
                 nn.Conv2d(4, 4, 3)):
        assert not is_eligible(conv)
    with pytest.raises(ValueError, match='stride-1'):
        WinogradConv2d(nn.Conv2d(4, 4, 3, padding=1, stride=2))


@pytest.fixture(scope='module')
def light_net():
    torch.manual_seed(0)
    return PropagationNetwork(arch='resnet18', key_dim=16, value_dim=32, decoder_dims=(32, 16, 16)).eval()


def winograd_count(fast) -> int:
    return sum(isinstance(m, WinogradConv2d) for m in [*fast.net.modules(), *fast.decoder.modules()])


@torch.no_grad()
def test_winograd_mode_converts_the_decoder_and_projections_and_leaves_the_loaded_net_untouched(light_net):
    before = {k: v.clone() for k, v in light_net.state_dict().items()}
    fast = optimize_for_inference(light_net, (64, 96), 'winograd')
    # key/value projections (2 fused convs each), split first block (4 + conv2), up_16_8 (skip conv, skip ResBlock,
    # out ResBlock with its shortcut), up_8_4 (the same without the shortcut), pred; in each ResNet-18 encoder the
    # first conv of every stride-1 BasicBlock (layer1: 2, layer2 and layer3: 1 each, as their first blocks stride)
    assert isinstance(fast.net.kv_q_f16, WinogradKeyValue) and isinstance(fast.net.kv_m_f16, WinogradKeyValue)
    encoder_convs = 2 * (2 + 1 + 1) if fast.packed_encoders else 0
    assert fast.winograd_convs == 2 * 2 + 5 + 6 + 5 + 1 + encoder_convs == winograd_count(fast) + 2
    assert not any(isinstance(m, WinogradConv2d) for m in light_net.modules())
    assert isinstance(light_net.kv_q_f16, KeyValue) and isinstance(light_net.decoder.pred, nn.Conv2d)
    assert all(torch.equal(light_net.state_dict()[k], v) for k, v in before.items())
    assert optimize_for_inference(light_net, (64, 96), 'direct').winograd_convs == 0


@torch.no_grad()
def test_auto_mode_times_each_conv_shape_once_and_keeps_the_result(light_net, monkeypatch):
    import accel.timing
    calls = []

    def fake_timing(conv, h, w, baseline=None):  # Winograd "wins" for wide convs only, as measured on a real CPU
        calls.append((conv.in_channels, conv.out_channels, h, w, type(baseline).__name__))
        return conv.in_channels >= 32
    monkeypatch.setattr(accel.timing, 'winograd_is_faster', fake_timing)
    timings = ConvTimings()
    fast = optimize_for_inference(light_net, (64, 96), 'auto', timings)
    assert len(calls) == len(set(calls)) == timings.timed  # one timing per shape
    assert isinstance(fast.decoder.conv1_r, WinogradConv2d) and not isinstance(fast.decoder.decoder.pred,
                                                                               WinogradConv2d)
    n = len(calls)
    optimize_for_inference(light_net, (64, 96), 'auto', timings)
    assert len(calls) == n  # the timings object keeps them
    optimize_for_inference(light_net, (64, 96), 'auto', ConvTimings())
    assert len(calls) == 2 * n  # and nothing else does: no process-wide state
    # the encoders' inner 3x3 convs are timed against their packed oneDNN form, the others against F.conv2d
    assert {b for *_, b in calls} == {'PackedConv2d', 'NoneType'}
    kv_sizes = {(h, w) for c_in, c_out, h, w, _ in calls if c_out == 16 + 32}  # the fused key/value projections
    assert kv_sizes == {(64 // 16, 96 // 16)} and isinstance(fast.net.kv_q_f16, WinogradKeyValue)


@torch.no_grad()
def test_real_timing_returns_a_decision():
    assert winograd_is_faster(nn.Conv2d(8, 8, 3, padding=1), 8, 8) in (True, False)


@torch.no_grad()
def test_winograd_core_equals_the_direct_core(light_net):
    frames, labels = synthetic_clip(t=6, h=40, w=56, k=2)
    fusion = FusionNet().eval()
    cores = [InferenceCore(light_net, fusion, frames, 2, mem_freq=2, backend=AcceleratedBackend(a))
             for a in ('winograd', 'direct')]
    for idx in (0, 5):
        outs = [core.interact(one_hot(labels[idx], 2), idx) for core in cores]
        assert (outs[0] != outs[1]).mean() <= 0.005
    torch.testing.assert_close(cores[0].prob, cores[1].prob, rtol=0, atol=1e-4)


def test_unknown_conv_algorithm_is_refused(light_net):
    with pytest.raises(ValueError, match='conv_algorithm'):
        AcceleratedBackend('fft')
    with pytest.raises(ValueError, match='conv_algorithm'):
        InferenceCore(light_net, None, torch.zeros(2, 32, 32, 3, dtype=torch.uint8), 1, fusion='none',
                      conv_algorithm='fft')
