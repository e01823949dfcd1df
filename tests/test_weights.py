"""Weight loading: official files strict and silent, our checkpoints, DDP prefixes, stage 0, clear errors."""
import logging

import pytest
import torch
import torchvision

from model.propagation import PropagationNetwork
from util.weights import CheckpointError, init_propagation_from_imagenet, load_network, load_weights, \
    mirror_query_encoder


def small_net(**kw):
    return PropagationNetwork(arch='resnet18', key_dim=16, value_dim=32, decoder_dims=(32, 16, 16), **kw)


def test_manifest_shaped_official_file_loads_strictly_and_silently(tmp_path, seed1_weights, caplog):
    path = tmp_path / 'propagation_model.pth'
    torch.save(seed1_weights('propagation'), path)
    net = PropagationNetwork()
    with caplog.at_level(logging.INFO):
        load_weights(net, path)
    assert caplog.records == []
    for k, v in net.state_dict().items():
        assert torch.equal(v, seed1_weights('propagation')[k])


def test_training_checkpoint_and_ddp_prefix_are_accepted(tmp_path):
    src = small_net()
    sd = {f'module.{k}': v for k, v in src.state_dict().items()}
    torch.save({'network': sd, 'it': 7}, tmp_path / 'ckpt.pth')
    dst = load_weights(small_net(), tmp_path / 'ckpt.pth')
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)


def test_stage0_single_object_weights_grow_an_orthogonal_others_channel():
    stage0 = small_net(single_object=True)
    net = load_weights(small_net(), stage0.state_dict())
    w_old, w_new = stage0.mask_rgb_encoder.conv1.weight, net.mask_rgb_encoder.conv1.weight
    assert w_new.shape[1] == 5
    assert torch.equal(w_new[:, :4], w_old)
    extra = w_new[:, 4].flatten(1)  # [64, 49]: orthogonal rows have unit norm (64 > 49, so columns orthonormal)
    torch.testing.assert_close(extra.T @ extra, torch.eye(49), atol=1e-5, rtol=0)


def test_wrong_file_names_the_offending_keys(tmp_path, seed1_weights):
    sd = dict(seed1_weights('propagation'))
    sd.pop('decoder.pred.bias')
    sd['decoder.extra.weight'] = torch.zeros(1)
    sd['kv_q_f16.key_proj.bias'] = torch.zeros(64)
    torch.save(sd, tmp_path / 'bad.pth')
    with pytest.raises(CheckpointError) as e:
        load_weights(PropagationNetwork(), tmp_path / 'bad.pth')
    msg = str(e.value)
    assert 'missing keys (1): decoder.pred.bias' in msg
    assert 'unexpected keys (1): decoder.extra.weight' in msg
    assert 'kv_q_f16.key_proj.bias: file [64] vs network [128]' in msg


def test_light_checkpoint_into_faithful_network_is_refused():
    with pytest.raises(CheckpointError, match='wrong shapes'):
        load_weights(PropagationNetwork(), small_net().state_dict())


def test_missing_and_corrupt_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        load_weights(small_net(), tmp_path / 'nope.pth')
    (tmp_path / 'corrupt.pth').write_bytes(b'not a torch file')
    with pytest.raises(CheckpointError, match='cannot read checkpoint'):
        load_weights(small_net(), tmp_path / 'corrupt.pth')


def test_imagenet_init_copies_resnet_tensors_into_both_encoders(tmp_path):
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(weights=None)
    torch.save(resnet.state_dict(), tmp_path / 'resnet18.pth')
    net = small_net()
    init_propagation_from_imagenet(net, tmp_path / 'resnet18.pth')
    ref = resnet.state_dict()
    assert torch.equal(net.rgb_encoder.res2[1].conv2.weight, ref['layer1.1.conv2.weight'])
    assert torch.equal(net.rgb_encoder.layer3[0].bn1.running_var, ref['layer3.0.bn1.running_var'])
    assert torch.equal(net.mask_rgb_encoder.layer2[0].downsample[0].weight, ref['layer2.0.downsample.0.weight'])
    assert torch.equal(net.mask_rgb_encoder.conv1.weight[:, :3], ref['conv1.weight'])
    assert net.mask_rgb_encoder.conv1.weight[:, 3:].abs().sum() > 0  # orthogonal extra channels, not zeros
    assert all(m.bias.abs().sum() == 0 for m in net.mask_rgb_encoder.modules()
               if isinstance(m, torch.nn.Conv2d))


def test_imagenet_file_of_another_depth_is_refused(tmp_path):
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / 'r18.pth')
    with pytest.raises(CheckpointError, match='same ResNet depth'):
        init_propagation_from_imagenet(PropagationNetwork(), tmp_path / 'r18.pth')


def test_load_network_rebuilds_a_light_variant_from_its_checkpoint(tmp_path):
    kwargs = {'arch': 'resnet18', 'key_dim': 16, 'value_dim': 32, 'decoder_dims': [32, 16, 16]}
    src = PropagationNetwork(**kwargs)
    torch.save({'network': src.state_dict(), 'model_kwargs': kwargs, 'it': 3}, tmp_path / 'light.pth')
    net = load_network('propagation', tmp_path / 'light.pth')
    assert not net.training and net.kv_q_f16.key_proj.out_channels == 16
    assert torch.equal(net.decoder.pred.weight, src.decoder.pred.weight)


def test_load_network_builds_the_faithful_network_from_an_official_file(tmp_path, seed1_weights):
    torch.save(seed1_weights('fusion'), tmp_path / 'fusion.pth')
    net = load_network('fusion', tmp_path / 'fusion.pth')
    assert torch.equal(net.final_conv.bias, seed1_weights('fusion')['final_conv.bias'])
    with pytest.raises(CheckpointError, match='fusion.pth.*does not fit PropagationNetwork'):
        load_network('propagation', tmp_path / 'fusion.pth')
    with pytest.raises(ValueError, match='unknown network kind'):
        load_network('s3m', tmp_path / 'fusion.pth')


def test_mirrored_memory_side_gives_the_query_keys_for_an_empty_mask():
    torch.manual_seed(0)
    net = PropagationNetwork(arch='resnet10', encoder_width=16, key_dim=8, value_dim=16, decoder_dims=(16, 8, 8)).eval()
    image = torch.randn(1, 3, 64, 64)
    empty = torch.zeros(1, 1, 64, 64)
    before = net.kv_q_f16.key_proj.weight.clone()
    mirror_query_encoder(net, key_gain=3.0)
    assert torch.allclose(net.kv_q_f16.key_proj.weight, 3 * before)
    memory_key, _ = net.memorize(image, empty)  # [1, Ck, 1, 4, 4]
    query_key = net.get_query_values(image)[3]
    assert torch.allclose(memory_key[:, :, 0], query_key, atol=1e-5)  # the memory read starts as a similarity
    mask = (torch.rand(1, 1, 64, 64) > 0.5).float()
    assert not torch.allclose(net.memorize(image, mask)[1], net.memorize(image, empty)[1])  # values see the mask
