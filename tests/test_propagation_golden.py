"""The propagation network reproduces the original code's outputs (golden vectors, seed 1)."""
import pytest
import torch

from helpers import assert_close_scaled
from model.aggregate import aggregate_wbg
from model.propagation import PropagationNetwork
from util.weights import load_weights


@pytest.fixture(scope='module')
def run(golden, seed1_weights):
    """Load the synthetic weights into the faithful network and compute every golden call once."""
    net = load_weights(PropagationNetwork().eval(), seed1_weights('propagation'))
    g = golden('propagation')
    i = g['inputs']
    with torch.no_grad():
        mem = [net.memorize(i['mem_frames'][t:t + 1], i['mem_masks'][t]) for t in range(2)]
        f16, f8, f4, k16, v16 = net.get_query_values(i['query_frame'])
        keys = torch.cat([k for k, _ in mem], dim=2)
        values = torch.cat([v for _, v in mem], dim=2)
        out = {
            'memorize_k16': torch.stack([k for k, _ in mem]),
            'memorize_v16': torch.stack([v for _, v in mem]),
            'query_f16': f16, 'query_k16': k16, 'query_v16': v16,
            'readout_top50': net.memory(keys, values, k16),
            'decoder_logits': net.segment_logits(keys, values, f8, f4, k16, v16),
            'segment_with_query': net.segment_with_query(keys, values, f16, f8, f4, k16, v16),
            'get_W': net.get_W(mem[1][0][0:1], k16),
            'get_attention': net.get_attention(mem[1][0][0:1], i['attn_pos_mask'], i['attn_neg_mask'], k16),
        }
        out['aggregate_wbg_keep_bg'] = aggregate_wbg(out['segment_with_query'], keep_bg=True)
        net.memory.top_k = None
        out['readout_full_softmax'] = net.memory(keys, values, k16)
    return out, g['outputs'], (f8, f4)


@pytest.mark.parametrize('name', ['memorize_k16', 'memorize_v16', 'query_f16', 'query_k16', 'query_v16',
                                  'readout_top50', 'readout_full_softmax', 'decoder_logits', 'segment_with_query',
                                  'aggregate_wbg_keep_bg', 'get_W', 'get_attention'])
def test_output_matches_original(run, name):
    out, ref, _ = run
    assert_close_scaled(out[name], ref[name])


@pytest.mark.parametrize('index,name', [(0, 'query_f8_digest'), (1, 'query_f4_digest')])
def test_skip_features_match_original_digest(run, index, name):
    _, ref, skips = run
    f, digest = skips[index], ref[name]
    assert list(f.shape) == list(digest['shape'])
    flat = f[0].flatten(1)  # [C, h*w]
    assert_close_scaled(f[0, :16], digest['first_channels'].reshape(f[0, :16].shape))
    assert_close_scaled(flat.mean(1), digest['channel_mean'].flatten())
    assert_close_scaled(flat.std(1), digest['channel_std'].flatten())
    assert_close_scaled(flat.abs().amax(1), digest['channel_absmax'].flatten())


def test_top_k_really_filters_the_golden_memory(run):
    out, _, _ = run
    assert (out['readout_top50'] - out['readout_full_softmax']).abs().max() > 1e-3
