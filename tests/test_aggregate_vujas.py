"""aggregate_wbg_vujas (CiVOS's aggregation of the click model's masks) against its definition."""
import pytest
import torch

from model.aggregate import aggregate_wbg, aggregate_wbg_vujas


def _by_definition(prob: torch.Tensor, keep_bg: bool, hard: bool) -> torch.Tensor:
    """bg = min over objects of (1 - p); clamp to [1e-7, 1 - 1e-7]; logits (x1000 if hard); softmax over dim 0."""
    k = prob.shape[0]
    bg = torch.stack([1 - prob[i] for i in range(k)]).amin(dim=0, keepdim=True)
    p = torch.cat([bg, prob]).double().clamp(1e-7, 1 - 1e-7)
    logits = torch.log(p) - torch.log1p(-p)
    out = torch.softmax(logits * (1000 if hard else 1), dim=0)
    return (out if keep_bg else out[1:]).float()


@pytest.mark.parametrize('keep_bg', [True, False])
@pytest.mark.parametrize('hard', [True, False])
def test_matches_the_definition(keep_bg, hard):
    g = torch.Generator().manual_seed(0)
    prob = torch.rand(3, 1, 9, 11, generator=g)
    prob[0, 0, 0, :3] = torch.tensor([0.0, 1.0, 0.5])  # the clamp
    assert torch.allclose(aggregate_wbg_vujas(prob, keep_bg=keep_bg, hard=hard), _by_definition(prob, keep_bg, hard),
                          atol=1e-5)


def test_background_is_the_least_background_object_not_the_product():
    prob = torch.tensor([0.9, 0.8]).view(2, 1, 1, 1)
    bg_vujas = aggregate_wbg_vujas(prob, keep_bg=True)[0].item()
    bg_wbg = aggregate_wbg(prob, keep_bg=True)[0].item()
    # logit odds of bg: 0.1/0.9 (min of 0.1, 0.2) against 0.02/0.98 (product): the min keeps more background
    assert bg_vujas == pytest.approx(1 / 9 / (1 / 9 + 9 + 4), rel=1e-5)
    assert bg_wbg < bg_vujas


def test_one_object_is_aggregate_wbg():
    prob = torch.rand(1, 1, 5, 7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(aggregate_wbg_vujas(prob, keep_bg=True, hard=True), aggregate_wbg(prob, keep_bg=True, hard=True))
