"""pad_divide_by / unpad follow MiVOS: next multiple of 16, left/top get floor(diff / 2), zero fill."""
import pytest
import torch

from util.tensor_util import pad_divide_by, unpad


@pytest.mark.parametrize('hw,pad', [((480, 854), (5, 5, 0, 0)), ((100, 120), (4, 4, 6, 6)),
                                    ((76, 150), (5, 5, 2, 2)), ((112, 160), (0, 0, 0, 0)), ((17, 31), (0, 1, 7, 8))])
def test_padding_matches_the_original_split(hw, pad):
    x = torch.randn(2, 3, *hw)
    y, p = pad_divide_by(x, 16)
    assert p == pad
    assert y.shape[-2] % 16 == 0 and y.shape[-1] % 16 == 0
    torch.testing.assert_close(unpad(y, p), x)
    left, right, top, bottom = p
    assert y[..., :top, :].abs().sum() == 0 and y[..., :, :left].abs().sum() == 0
    assert y[..., y.shape[-2] - bottom:, :].abs().sum() == 0 and y[..., :, y.shape[-1] - right:].abs().sum() == 0


def test_already_divisible_input_is_returned_unchanged():
    x = torch.randn(1, 1, 32, 48)
    y, p = pad_divide_by(x)
    assert p == (0, 0, 0, 0) and y is x
