"""Soft aggregation reproduces the original (golden vectors, including the 1e-7 clamp)."""
import pytest

from helpers import assert_close_scaled
from model.aggregate import aggregate_sbg, aggregate_wbg, aggregate_wbg_channel

CALLS = {
    'wbg_keep_bg': lambda p, c: aggregate_wbg(p, keep_bg=True),
    'wbg_no_bg': lambda p, c: aggregate_wbg(p, keep_bg=False),
    'wbg_keep_bg_hard': lambda p, c: aggregate_wbg(p, keep_bg=True, hard=True),
    'sbg_keep_bg': lambda p, c: aggregate_sbg(p, keep_bg=True),
    'sbg_keep_bg_hard': lambda p, c: aggregate_sbg(p, keep_bg=True, hard=True),
    'wbg_channel_logits': lambda p, c: aggregate_wbg_channel(c, keep_bg=True)[0],
    'wbg_channel_prob_keep_bg': lambda p, c: aggregate_wbg_channel(c, keep_bg=True)[1],
    'wbg_channel_prob_no_bg': lambda p, c: aggregate_wbg_channel(c, keep_bg=False)[1],
}


@pytest.mark.parametrize('name', CALLS)
def test_aggregation_matches_original(golden, name):
    g = golden('aggregate')
    out = CALLS[name](g['inputs']['prob'], g['inputs']['prob_channel'])
    assert_close_scaled(out, g['outputs'][name], rel=1e-6)
