"""label_map equals torch.argmax over the object planes, ties included (the first maximum wins)."""
import pytest
import torch

from util.tensor_util import label_map


@pytest.mark.parametrize('planes', [1, 2, 3, 6])
def test_label_map_equals_argmax_with_ties(planes):
    g = torch.Generator().manual_seed(planes)
    prob = torch.randint(0, 4, (planes, 1, 17, 23), generator=g).float() / 4  # many exact ties
    labels = label_map(prob)
    assert labels.dtype == torch.uint8 and labels.shape == (1, 17, 23)
    assert torch.equal(labels, prob.argmax(dim=0).to(torch.uint8))
    soft = torch.softmax(torch.randn(planes, 2, 9, 11, generator=g), dim=0)
    assert torch.equal(label_map(soft), soft.argmax(dim=0).to(torch.uint8))


def test_label_map_refuses_more_planes_than_uint8_labels():
    with pytest.raises(ValueError, match='256'):
        label_map(torch.zeros(257, 2, 2))
