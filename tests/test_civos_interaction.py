"""CiVOS's interaction: clicks -> a fresh RITM predictor per object -> aggregation (random h18s weights)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.interaction.civos import CiVOSInteraction
from inference.interaction.ritm import RITMPredictor
from light_models import constructor
from model.aggregate import aggregate_wbg, aggregate_wbg_vujas
from model.ritm import HRNetISModel

H, W = 48, 64


@pytest.fixture(scope='module')
def interaction(seed1_weights) -> CiVOSInteraction:
    torch.set_num_threads(2)
    net = HRNetISModel(**constructor('ritm_h18s')).eval()
    net.load_state_dict(seed1_weights('ritm_h18s'))
    # zoom-in and flip off: the interaction's logic is under test here, not RITM's (tests/test_ritm_predictor.py)
    return CiVOSInteraction(lambda: RITMPredictor(net, brs_mode='NoBRS', zoom_in=False, with_flip=False))


@pytest.fixture(scope='module')
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _rows(*rows: tuple[int, int, int]) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def test_an_object_without_clicks_keeps_its_previous_mask_and_the_others_get_ritm(interaction, image):
    previous = torch.rand(2, H, W, generator=torch.Generator().manual_seed(0))
    probs = interaction.object_probs(image, _rows((1, 20, 30)), _rows((1, 5, 5)), previous, 2)
    assert torch.equal(probs[1], previous[1])
    predictor = interaction.make_predictor()  # what a fresh predictor says for object 1 alone
    predictor.set_input_image(image)
    predictor.prev_prediction = previous[0]
    alone = torch.as_tensor(predictor.get_prediction([(True, 20, 30), (False, 5, 5)]))
    assert torch.allclose(probs[0], alone, atol=1e-6) and not torch.allclose(probs[0], previous[0], atol=1e-2)

    mask = interaction.apply(image, _rows((1, 20, 30)), _rows((1, 5, 5)), previous, 2)
    assert mask.shape == (3, 1, H, W)
    assert torch.allclose(mask, aggregate_wbg_vujas(probs[:, None], keep_bg=True, hard=True))


def test_objects_do_not_share_a_predictor(interaction, image):
    both = interaction.object_probs(image, _rows((1, 20, 30), (2, 10, 50)), _rows(), None, 2)
    only_two = interaction.object_probs(image, _rows((2, 10, 50)), _rows(), None, 2)
    assert torch.allclose(both[1], only_two[1], atol=1e-6)
    assert torch.equal(only_two[0], torch.zeros(H, W))  # first round, no click: nothing


def test_one_object_is_aggregated_with_aggregate_wbg(interaction, image):
    probs = interaction.object_probs(image, _rows((1, 24, 32)), _rows(), None, 1)
    mask = interaction.apply(image, _rows((1, 24, 32)), _rows(), None, 1)
    assert torch.equal(mask, aggregate_wbg(probs[:, None], keep_bg=True, hard=True))


def test_bad_clicks_and_inputs_are_refused_with_the_cause(interaction, image):
    with pytest.raises(ValueError, match=r'click at \(y=48, x=3\) is outside the 48x64 image'):
        interaction.apply(image, _rows((1, 48, 3)), _rows(), None, 1)
    with pytest.raises(ValueError, match='negative click for object 3: objects are 1..2'):
        interaction.apply(image, _rows(), _rows((3, 1, 1)), None, 2)
    with pytest.raises(ValueError, match=r'previous masks must be \[2,48,64\]'):
        interaction.apply(image, _rows((1, 1, 1)), _rows(), torch.zeros(1, H, W), 2)
    with pytest.raises(ValueError, match='uint8'):
        interaction.apply(image.astype(np.float32), _rows((1, 1, 1)), _rows(), None, 1)


def test_with_network_builds_fresh_predictors_with_civos_settings(interaction):
    civos = CiVOSInteraction.with_network(interaction.make_predictor().net)
    first, second = civos.make_predictor(), civos.make_predictor()
    assert isinstance(first, RITMPredictor) and first is not second
    assert (first.brs_mode, first.prob_thresh, first.zoom_in, first.with_flip) == ('f-BRS-B', 0.5, True, True)
    assert CiVOSInteraction.with_network(first.net, 'NoBRS', 0.49).make_predictor().brs_mode == 'NoBRS'
