"""DAVISProcessor policies on a small generated sample with light random networks."""
import numpy as np
import pytest
import torch

from evaluation.davis import DAVISProcessor
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from model.s2m import S2M


@pytest.fixture(scope='module')
def nets():
    torch.manual_seed(0)
    return (PropagationNetwork(arch='resnet18', key_dim=16, value_dim=32, decoder_dims=(32, 16, 16)).eval(),
            FusionNet().eval(), S2M(arch='resnet18', head_channels=16).eval())


def scribble(frame, t=5):
    frames = [[] for _ in range(t)]
    frames[frame] = [{'path': [[0.2, 0.2], [0.4, 0.5]], 'object_id': 1, 'start_time': 0, 'end_time': 1},
                     {'path': [[0.7, 0.8], [0.9, 0.9]], 'object_id': 0, 'start_time': 1, 'end_time': 2}]
    return {'scribbles': frames, 'sequence': 'gen', 'annotated_frame': frame}


def processor(nets, **kw):
    frames = torch.randint(0, 256, (5, 36, 50, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    return DAVISProcessor(*nets, frames, 1, **kw)


@torch.no_grad()
def test_three_frame_policy_refines_twice_then_propagates_and_keeps_going_past_the_schedule(nets):
    proc = processor(nets)
    hints = [proc.interact(scribble(f))[1] for f in (1, 1, 1, 3, 3, 3, 4, 4, 2)]
    assert hints == [[1], [1], None, [3], [3], None, [4], None, None]
    assert proc.core.interacted == {1, 3, 4, 2}


@torch.no_grad()
def test_every_round_policy_propagates_each_interaction(nets):
    proc = processor(nets, policy='every-round')
    labels, hint, idx = proc.interact(scribble(2))
    assert hint is None and idx == 2 and proc.core.interacted == {2}
    assert labels.shape == (5, 36, 50) and labels.dtype == np.uint8


def test_scribbles_beyond_the_video_and_unknown_policies_are_refused(nets):
    with pytest.raises(ValueError, match='policy'):
        processor(nets, policy='sometimes')
    with pytest.raises(ValueError, match='video has 5 frames'):
        processor(nets).interact(scribble(6, t=8))
