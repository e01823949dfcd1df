"""Golden-vector tolerances of docs/golden.md, shared by the fidelity tests."""
from __future__ import annotations

import torch


def assert_close_scaled(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-4) -> None:
    """Float tensors: |a - b| <= rel * max(1, max|ref|)."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, expected.abs().max().item())
    err = (actual.float() - expected.float()).abs().max().item()
    assert err <= rel * scale, f'max |diff| {err:.3g} > {rel * scale:.3g}'


def assert_prob_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Probability maps: max |diff| <= 1e-3 and at least 99% of entries within 1e-4."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = (actual.float() - expected.float()).abs()
    assert diff.max().item() <= 1e-3, f'max |diff| {diff.max().item():.3g}'
    frac = (diff > 1e-4).float().mean().item()
    assert frac <= 0.01, f'{frac:.2%} of entries differ by more than 1e-4'


def assert_labels_close(actual, expected, max_fraction: float = 0.005) -> None:
    """Label maps: at most 0.5% of pixels may differ (argmax near-ties)."""
    a, e = torch.as_tensor(actual), torch.as_tensor(expected)
    assert a.shape == e.shape, (a.shape, e.shape)
    frac = (a != e).float().mean().item()
    assert frac <= max_fraction, f'{frac:.3%} of pixels differ (limit {max_fraction:.1%})'
