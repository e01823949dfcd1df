"""Packed oneDNN convolutions (pre-reordered weights, fused ReLU / residual add) equal the plain modules."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from accel.onednn import (PackedConv2d, PackedFusionNet, PackedResBlock, conv_output_shape, onednn_available,
                          pack_trunk)
from accel.optimize import fold_batchnorm, optimize_for_inference
from accel.winograd import WinogradConv2d
from inference import InferenceCore
from inference.backend import ReferenceBackend
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from model.propagation.encoders import MaskRGBEncoder, RGBEncoder
from model.resnet import BasicBlock, Bottleneck, make_layer

pytestmark = pytest.mark.skipif(not onednn_available(torch.device('cpu')), reason='PyTorch built without oneDNN')


def close(out: torch.Tensor, ref: torch.Tensor) -> None:
    """Equal up to float32 summation order: 1e-5 of the output's scale."""
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5 * ref.abs().max().item())


def randomize_batchnorm(net: nn.Module) -> nn.Module:
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


@torch.no_grad()
@pytest.mark.parametrize('cin,cout,k,stride,bias', [(16, 32, 1, 1, True), (8, 8, 3, 1, False), (8, 16, 3, 2, True),
                                                    (5, 16, 7, 2, True), (16, 8, 1, 2, False)])
@pytest.mark.parametrize('relu', [False, True])
def test_packed_conv_equals_the_conv_for_the_packed_and_other_batch_sizes(cin, cout, k, stride, bias, relu):
    torch.manual_seed(cin * k)
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)
    packed = PackedConv2d(conv, (1, cin, 20, 30), relu=relu)
    for x in (torch.randn(1, cin, 20, 30), torch.randn(3, cin, 20, 30), torch.randn(1, cin, 9, 13)):
        ref = conv(x)
        close(packed(x), F.relu(ref) if relu else ref)
        assert conv_output_shape(conv, tuple(x.shape)) == tuple(ref.shape)


@torch.no_grad()
def test_packed_conv_fuses_the_residual_add_and_relu():
    conv = nn.Conv2d(8, 8, 3, padding=1)
    x, residual = torch.randn(2, 8, 12, 16), torch.randn(2, 8, 12, 16)
    close(PackedConv2d(conv, (1, 8, 12, 16), relu=True)(x, residual), F.relu(conv(x) + residual))
    close(PackedConv2d(conv, (1, 8, 12, 16))(x, residual), conv(x) + residual)


def test_packed_conv_is_inference_only():
    conv = PackedConv2d(nn.Conv2d(4, 4, 3, padding=1), (1, 4, 8, 8))
    with pytest.raises(RuntimeError, match='inference-only'):
        conv(torch.randn(1, 4, 8, 8, requires_grad=True))
    with pytest.raises(ValueError, match='zero-padded'):
        PackedConv2d(nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect'), (1, 4, 8, 8))


def always(conv: nn.Conv2d, shape) -> bool:
    return True


@torch.no_grad()
@pytest.mark.parametrize('arch,stage', [('resnet50', 1), ('resnet50', 2), ('resnet18', 2), ('resnet18', 1)])
@pytest.mark.parametrize('winograd', [False, True])
def test_packed_blocks_equal_the_folded_blocks(arch, stage, winograd):
    torch.manual_seed(stage)
    layer, _ = make_layer(arch, stage, stride=1 if stage == 1 else 2, bias=True)
    layer = fold_batchnorm(randomize_batchnorm(layer))
    x = torch.randn(2, layer[0].conv1.in_channels, 16, 24)
    shape = tuple(x.shape)
    for i, block in enumerate(layer):
        assert isinstance(block, (BasicBlock, Bottleneck))
        packed = PackedResBlock(block, shape, always) if winograd else PackedResBlock(block, shape)
        stride_one = i > 0 or stage == 1  # a stage's first block strides in its 3x3 conv (stage 1 does not)
        assert any(isinstance(m, WinogradConv2d) for m in packed.modules()) == (winograd and stride_one)
        ref = block(x)
        close(packed(x), ref)
        assert packed.output_shape == tuple(ref.shape)
        x, shape = ref, packed.output_shape


def test_packing_an_unfolded_block_is_refused():
    layer, _ = make_layer('resnet18', 1, stride=1)
    with pytest.raises(ValueError, match='BatchNorm-folded'):
        PackedResBlock(layer[0].eval(), (1, 64, 16, 16))


@torch.no_grad()
@pytest.mark.parametrize('arch', ['resnet18', 'resnet50'])
@pytest.mark.parametrize('winograd', [False, True])
def test_packed_trunks_equal_the_folded_encoders(arch, winograd):
    torch.manual_seed(0)
    query = fold_batchnorm(randomize_batchnorm(RGBEncoder(arch)))
    memory = fold_batchnorm(randomize_batchnorm(MaskRGBEncoder(arch)))
    image, masks = torch.randn(2, 3, 48, 64), torch.rand(2, 2, 48, 64)
    refs = query(image), memory(image, masks[:, :1], masks[:, 1:])
    choice = {'winograd': always} if winograd else {}
    pack_trunk(query, (1, 3, 48, 64), **choice)
    pack_trunk(memory, (1, 5, 48, 64), **choice)
    assert not any(type(m) is nn.Conv2d for m in [*query.modules(), *memory.modules()])
    for out, ref in zip(query(image), refs[0]):  # f16, f8, f4
        close(out, ref)
    close(memory(image, masks[:, :1], masks[:, 1:]), refs[1])


@torch.no_grad()
def test_optimized_network_packs_both_encoders_on_the_cpu_and_leaves_the_original_alone():
    prop = randomize_batchnorm(PropagationNetwork(arch='resnet18', key_dim=16, value_dim=32,
                                                  decoder_dims=(32, 16, 16)))
    fast = optimize_for_inference(prop, (32, 48), 'direct')
    assert fast.packed_encoders
    assert isinstance(fast.net.rgb_encoder.conv1, PackedConv2d)
    assert isinstance(fast.net.mask_rgb_encoder.layer3[0], PackedResBlock)
    assert type(prop.rgb_encoder.conv1) is nn.Conv2d and isinstance(prop.rgb_encoder.res2[0], BasicBlock)
    frame, masks = torch.randn(1, 3, 32, 48), torch.rand(2, 1, 32, 48)
    for out, ref in zip(fast.net.get_query_values(frame), prop.get_query_values(frame)):
        close(out, ref)
    for out, ref in zip(fast.net.memorize(frame, masks), prop.memorize(frame, masks)):
        close(out, ref)


@torch.no_grad()
@pytest.mark.parametrize('channels_last', [False, True])
def test_packed_fusion_net_equals_the_fusion_net(channels_last):
    torch.manual_seed(0)
    net = FusionNet(width=8).eval()
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randn(2, 3, 24, 40, generator=g), *(torch.rand(2, c, 24, 40, generator=g) for c in (1, 1, 2))]
    if channels_last:
        inputs = [x.contiguous(memory_format=torch.channels_last) for x in inputs]
    time = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    close(PackedFusionNet(net, (1, 9, 24, 40))(*inputs, time), net(*inputs, time))


def test_optimized_core_fuses_with_the_packed_fusion_net_and_the_reference_with_the_original():
    prop = PropagationNetwork(arch='resnet18', key_dim=16, value_dim=32, decoder_dims=(32, 16, 16)).eval()
    fusion = FusionNet(width=8).eval()
    frames = torch.zeros(3, 32, 48, 3, dtype=torch.uint8)
    assert isinstance(InferenceCore(prop, fusion, frames, 1).networks.fusion_net, PackedFusionNet)
    assert InferenceCore(prop, fusion, frames, 1, backend=ReferenceBackend()).networks.fusion_net is fusion
    assert InferenceCore(prop, fusion, frames, 1, fusion='linear').networks.fusion_net is None  # never run
