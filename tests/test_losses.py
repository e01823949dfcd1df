"""Bootstrapped CE against the original code's golden values, and the multi-object sample rule."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.losses import BootstrappedCE, multi_object_loss


def test_bootstrapped_ce_reproduces_the_original_loss_and_fraction_at_every_iteration(golden):
    data = golden('losses')
    inputs = data['inputs']
    loss_fn = BootstrappedCE(inputs['start_warm'], inputs['end_warm'], inputs['top_p'])
    for ref in data['outputs']:
        loss, p = loss_fn(inputs['logits'], inputs['target'], ref['it'])
        assert p == ref['p'], ref['it']
        assert torch.equal(loss, ref['loss']), (ref['it'], loss, ref['loss'])


def test_bootstrapped_ce_rejects_an_empty_warm_up_interval():
    with pytest.raises(ValueError, match='start_warm'):
        BootstrappedCE(100, 100)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 6, 8, generator=g), torch.randint(0, 2, (2, 6, 8), generator=g)


def test_third_channel_is_ignored_for_samples_without_a_second_object():
    logits, target = _batch()
    selector = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    loss_fn = BootstrappedCE(10, 20)
    changed = logits.clone()
    changed[:, 2] += 5
    a, _ = multi_object_loss(loss_fn, logits, target, selector, it=0)
    b, _ = multi_object_loss(loss_fn, changed, target, selector, it=0)
    assert torch.equal(a, b)
    assert torch.allclose(a, F.cross_entropy(logits[:, :2], target), atol=1e-6)


def test_multi_object_loss_averages_two_and_three_class_samples():
    logits, target = _batch(1)
    target[1, 0, 0] = 2
    selector = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    loss_fn = BootstrappedCE(10, 20)
    loss, p = multi_object_loss(loss_fn, logits, target, selector, it=15)
    first, _ = loss_fn(logits[:1, :2], target[:1], 15)
    second, _ = loss_fn(logits[1:], target[1:], 15)
    assert p == pytest.approx(0.575)
    assert torch.allclose(loss, (first + second) / 2)
    changed = logits.clone()
    changed[1, 2] += 5
    assert not torch.allclose(multi_object_loss(loss_fn, changed, target, selector, it=15)[0], loss)


def test_multi_object_loss_rejects_a_selector_of_the_wrong_shape():
    logits, target = _batch()
    with pytest.raises(ValueError, match='selector'):
        multi_object_loss(BootstrappedCE(10, 20), logits, target, torch.ones(2, 3), it=0)
