"""InferenceCore reproduces the original interact -> propagate -> fuse loop (golden e2e_a, e2e_b)."""
import numpy as np
import pytest
import torch

from accel import AcceleratedBackend
from accel.winograd import WinogradKeyValue
from helpers import assert_labels_close, assert_prob_close
from inference import InferenceCore
from inference.backend import ReferenceBackend
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from util.image import normalize_u8
from util.tensor_util import one_hot
from util.weights import load_weights


@pytest.fixture(scope='module')
def nets(seed1_weights):
    prop = load_weights(PropagationNetwork().eval(), seed1_weights('propagation'))
    fusion = load_weights(FusionNet().eval(), seed1_weights('fusion'))
    return prop, fusion


BACKENDS = {'accelerated-winograd': lambda: AcceleratedBackend('winograd'),
            'accelerated-direct': lambda: AcceleratedBackend('direct'), 'reference': ReferenceBackend}


@pytest.mark.parametrize('name', ['e2e_a', 'e2e_b'])
@pytest.mark.parametrize('uint8_frames', [False, True])
@pytest.mark.parametrize('backend', list(BACKENDS))
def test_interactions_reproduce_original_probabilities_and_labels(nets, golden, name, uint8_frames, backend):
    g = golden(name)
    cfg = g['config']
    images = g['frames_u8'] if uint8_frames else normalize_u8(g['frames_u8']).unsqueeze(0)
    storage = 'float32' if backend == 'reference' else None  # the reference as the original: nothing rounded
    core = InferenceCore(*nets, images, cfg['k'], mem_freq=cfg['mem_freq'], backend=BACKENDS[backend](),
                         prob_storage=storage)
    if backend != 'reference':
        assert isinstance(core.networks.net.kv_q_f16, WinogradKeyValue) == backend.endswith('winograd')
    assert core.pad == tuple(cfg['pad'])
    with torch.no_grad():
        for step in g['steps']:
            labels = core.interact(one_hot(step['label_in'], cfg['k']), step['frame'])
            assert labels.dtype == np.uint8
            assert_labels_close(torch.from_numpy(labels), step['np_masks'])
            if 'prob' in step:
                assert_prob_close(core.prob.cpu(), step['prob'])
