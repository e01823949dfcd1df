"""The optimised inference path equals the reference one: BN folding, split decoder, gathered top-k, bounded memory."""
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from accel import AcceleratedBackend
from accel.onednn import pack_trunk
from accel.optimize import fold_batchnorm
from accel.split_decoder import SplitDecoder
from inference import InferenceCore
from inference.backend import ReferenceBackend
from evaluation.benchmark import FLOP_FORMULAS, run_mode, synthetic_clip, with_flops
from inference.feature_cache import LRUCache
from util.image_io import ImageFolder
from inference.pass_memory import PassMemory
from inference.prob_store import UINT16_MAX_ERROR, ProbStore
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from model.propagation.encoders import RGBEncoder
from model.propagation.memory import MemoryReader
from util.tensor_util import one_hot


@pytest.fixture(scope='module')
def nets():
    torch.manual_seed(0)
    prop = PropagationNetwork(arch='resnet18', key_dim=16, value_dim=32, decoder_dims=(32, 16, 16))
    for m in prop.modules():  # non-trivial statistics, so that folding has something to fold
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return prop.eval(), FusionNet().eval()


@pytest.fixture(scope='module')
def backend():
    """One backend for the cores compared bit for bit: the same conv choices, prepared once."""
    return AcceleratedBackend()


@pytest.fixture(scope='module')
def clip():
    return synthetic_clip(t=9, h=40, w=56, k=2)


@torch.no_grad()
def test_folded_batchnorm_network_equals_the_unfolded_one_and_leaves_it_untouched(nets):
    prop = nets[0]
    before = {k: v.clone() for k, v in prop.state_dict().items()}
    folded = fold_batchnorm(prop)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert folded.decoder is not prop.decoder  # modules are copies (free to transform further) ...
    assert folded.decoder.pred.weight is prop.decoder.pred.weight  # ... that share every tensor not folded
    assert prop.state_dict().keys() == before.keys()
    assert all(torch.equal(prop.state_dict()[k], v) for k, v in before.items())
    frame = torch.randn(1, 3, 64, 96)
    for a, b in zip(prop.get_query_values(frame), folded.get_query_values(frame)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * a.abs().max().item())
    masks = torch.rand(2, 1, 64, 96)
    for a, b in zip(prop.memorize(frame, masks), folded.memorize(frame, masks)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * a.abs().max().item())


def test_folding_a_training_mode_network_is_refused(nets):
    with pytest.raises(ValueError, match='eval-mode'):
        fold_batchnorm(PropagationNetwork(arch='resnet18', key_dim=8, value_dim=16, decoder_dims=(16, 8, 8)))


@torch.no_grad()
@pytest.mark.parametrize('t', [1, 3])
def test_gathered_topk_readout_equals_the_dense_one(t):
    g = torch.Generator().manual_seed(t)
    mk, mv = torch.randn(2, 16, t, 6, 9, generator=g), torch.randn(2, 32, t, 6, 9, generator=g)
    qk = torch.randn(1, 16, 6, 9, generator=g)
    dense, gathered = MemoryReader(top_k=20)(mk, mv, qk), MemoryReader(top_k=20, gathered=True)(mk, mv, qk)
    torch.testing.assert_close(gathered, dense, rtol=1e-5, atol=1e-6)
    blocks = MemoryReader(top_k=20, gathered=True, max_affinity_bytes=4 * 2 * t * 54 * 5)  # 5 query rows a block
    torch.testing.assert_close(blocks(mk, mv, qk), gathered, rtol=0, atol=0)


@torch.no_grad()
def test_split_decoder_with_precomputed_query_parts_equals_the_full_decoder(nets):
    prop = nets[0]
    frame = torch.randn(1, 3, 64, 96)
    _, f8, f4, k16, v16 = prop.get_query_values(frame)
    readout = torch.randn(3, 32, 4, 6)
    full = prop.decoder(torch.cat([readout, v16.expand(3, -1, -1, -1)], dim=1), f8, f4)
    decoder = SplitDecoder(prop.decoder, 32)
    split = decoder(readout, decoder.query_parts(v16, f8, f4))
    torch.testing.assert_close(split, full, rtol=1e-5, atol=1e-5 * full.abs().max().item())
    assert decoder.conv1_r.conv.weight.shape[1] == decoder.shortcut_v.conv.weight.shape[1] == 32


@torch.no_grad()
def test_optimized_core_equals_the_reference_core_through_a_fused_session(nets, clip):
    frames, labels = clip
    cores = [InferenceCore(*nets, frames, 2, mem_freq=3, backend=b) for b in (AcceleratedBackend(), ReferenceBackend())]
    for idx in (4, 0, 8):
        outs = [core.interact(one_hot(labels[idx], 2), idx) for core in cores]
        assert (outs[0] != outs[1]).mean() <= 0.005
    torch.testing.assert_close(cores[0].prob, cores[1].prob, rtol=0, atol=1e-4)
    assert cores[0].query(3).key.shape == cores[1].query(3).key.shape


def test_the_earlier_keyword_arguments_choose_the_backend(nets, clip):
    frames = clip[0]
    reference = InferenceCore(*nets, frames, 2, optimize=False)
    assert type(reference.backend) is ReferenceBackend and reference.prob_store.storage == 'float32'
    fast = InferenceCore(*nets, frames, 2, conv_algorithm='direct', channels_last=False)
    assert fast.backend.conv_algorithm == 'direct' and not fast.networks.channels_last
    assert fast.prob_store.storage == 'disk'
    with pytest.raises(ValueError, match='not with optimize=False'):
        InferenceCore(*nets, frames, 2, optimize=False, conv_algorithm='winograd')
    with pytest.raises(ValueError, match='either a backend'):
        InferenceCore(*nets, frames, 2, backend=ReferenceBackend(), optimize=False)


@torch.no_grad()
def test_byte_limited_feature_cache_gives_the_unbounded_result(nets, clip, backend):
    frames, labels = clip
    unbounded = InferenceCore(*nets, frames, 2, feature_cache_size=None, backend=backend)
    unbounded.interact(one_hot(labels[0], 2), 0)
    one_frame = unbounded.query_cache.nbytes / len(unbounded.query_cache)
    limit = int(2.5 * one_frame)
    bounded = InferenceCore(*nets, frames, 2, feature_cache_size=None, feature_cache_bytes=limit, backend=backend)
    bounded.interact(one_hot(labels[0], 2), 0)
    for core in (unbounded, bounded):
        core.interact(one_hot(labels[8], 2), 8)
    assert len(bounded.query_cache) == 2 and bounded.query_cache.nbytes <= limit
    assert bounded.query_cache.misses > unbounded.query_cache.misses
    assert torch.equal(bounded.prob, unbounded.prob)


def test_lru_cache_evicts_by_bytes_and_skips_values_larger_than_the_limit():
    cache = LRUCache(None, max_bytes=100)
    for key in range(3):
        cache.get(key, lambda: torch.zeros(10))  # 40 bytes each
    assert len(cache) == 2 and cache.nbytes == 80
    cache.get(9, lambda: torch.zeros(50))  # 200 bytes: returned, not stored
    assert len(cache) == 2 and 9 not in cache._items
    with pytest.raises(ValueError, match='max_bytes'):
        LRUCache(None, max_bytes=-1)


@torch.no_grad()
def test_streaming_frames_from_a_folder_gives_the_in_memory_result(nets, clip, backend, tmp_path):
    frames, labels = clip
    for ti, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f'{ti:05d}.png')  # lossless, so frames are identical
    source = ImageFolder(tmp_path)
    assert len(source) == len(frames) and source.shape == frames.shape
    streamed, in_memory = (InferenceCore(*nets, images, 2, backend=backend) for images in (source, frames))
    for core in (streamed, in_memory):
        core.interact(one_hot(labels[2], 2), 2)
        core.interact(one_hot(labels[7], 2), 7)
    assert torch.equal(streamed.prob, in_memory.prob)
    assert np.array_equal(streamed.np_masks, in_memory.np_masks)


def test_image_folder_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing'):
        ImageFolder(tmp_path / 'missing')
    with pytest.raises(FileNotFoundError, match='no image files'):
        ImageFolder(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / '0.png')
    Image.fromarray(np.zeros((8, 9, 3), np.uint8)).save(tmp_path / '1.png')
    with pytest.raises(ValueError, match='same size'):
        ImageFolder(tmp_path)[1]


def test_benchmark_phases_run_on_a_light_network_in_both_modes(nets, clip):
    frames, labels = clip
    for mode in ('optimized', 'reference'):
        counted = run_mode(mode, nets, frames, labels, 2, torch.device('cpu'), count_flops=True)
        timed = run_mode(mode, nets, frames, labels, 2, torch.device('cpu'))
        assert [r.phase for r in timed] == ['first', 'fusion', 'session']
        assert all(r.seconds > 0 and r.gflop == 0 and r.peak_mb > 0 for r in timed)  # timed runs count nothing
        results = with_flops(timed, counted)
        assert all(r.gflop == c.gflop > 0 and r.seconds == t.seconds for r, c, t in zip(results, counted, timed))
        assert results[0].gflops == results[0].gflop / results[0].seconds
        assert results[0].frames == len(frames) - 1


@torch.no_grad()
def test_flop_count_includes_the_packed_onednn_convolutions():
    encoder = fold_batchnorm(RGBEncoder('resnet18').eval())
    image = torch.randn(1, 3, 32, 48)
    with FlopCounterMode(display=False) as plain:
        encoder(image)
    pack_trunk(encoder, (1, 3, 32, 48))
    with FlopCounterMode(display=False, custom_mapping=FLOP_FORMULAS) as packed:
        encoder(image)
    assert packed.get_total_flops() == plain.get_total_flops() > 0


@pytest.mark.parametrize('storage', ['uint16', 'disk'])
def test_compact_prob_storage_keeps_every_frame_within_the_uint16_rounding_error(storage, tmp_path):
    g = torch.Generator().manual_seed(0)
    dense, compact = ProbStore(3, 4, 16, 32, 'float32'), ProbStore(3, 4, 16, 32, storage)
    for ti in (0, 3, 1):
        value = torch.softmax(torch.randn(3, 1, 16, 32, generator=g), dim=0)
        value[:, :, 0, 0] = torch.tensor([0.0, 1.0, 0.0]).view(3, 1)  # the end points are exact
        dense[ti], compact[ti] = value, value
    err = (compact.dense() - dense.dense()).abs()
    assert err[:, [0, 1, 3]].max() <= UINT16_MAX_ERROR + 1e-7  # + float32 rounding of q / 65535
    assert err[:, 2].max() <= 1e-7  # frame 2 is untouched: its 1e-7 background reads as 0
    assert compact[3][1, 0, 0, 0] == 1.0 and compact.nbytes == (0 if storage == 'disk' else dense.nbytes // 2)
    with pytest.raises(ValueError, match='prob storage'):
        ProbStore(3, 4, 16, 32, 'float16')


def test_disk_prob_storage_says_where_it_could_not_write_and_what_to_do(tmp_path):
    with pytest.raises(OSError, match="TMPDIR.*prob_storage='uint16'"):
        ProbStore(2, 3, 16, 16, 'disk', spill_dir=tmp_path / 'missing')


@torch.no_grad()
def test_streamed_frames_bounded_cache_and_disk_probabilities_give_the_unbounded_float32_result(nets, clip, backend,
                                                                                                  tmp_path):
    frames, labels = clip
    for ti, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f'{ti:05d}.png')
    exact = InferenceCore(*nets, frames, 2, feature_cache_bytes=None, prob_storage='float32', backend=backend)
    bounded = InferenceCore(*nets, ImageFolder(tmp_path), 2, feature_cache_bytes=1, prob_storage='disk',
                            backend=backend)
    for idx in (4, 0, 8):  # the second and third interactions fuse with the stored (rounded) probabilities
        outs = [core.interact(one_hot(labels[idx], 2), idx) for core in (exact, bounded)]
        assert (outs[0] != outs[1]).mean() <= 0.005  # the golden label tolerance (argmax near-ties)
    assert len(bounded.query_cache) == 0 and bounded.prob_store.nbytes == 0
    torch.testing.assert_close(bounded.prob, exact.prob, rtol=0, atol=1e-5)
    torch.testing.assert_close(bounded.prob_frame(5), exact.prob[:, 5], rtol=0, atol=1e-5)


@pytest.mark.parametrize('time_major', [True, False])
def test_pass_memory_reads_the_certain_committed_and_temporary_frames_in_order(time_major):
    certain_k, certain_v = torch.randn(2, 4, 2, 3, 5), torch.randn(2, 6, 2, 3, 5)
    memory = PassMemory(certain_k, certain_v, capacity=4, time_major=time_major)
    frames = [(torch.randn(2, 4, 1, 3, 5), torch.randn(2, 6, 1, 3, 5)) for _ in range(3)]
    memory.put(*frames[0], commit=False)
    memory.put(*frames[1], commit=True)  # overwrites the temporary frame 0
    memory.put(*frames[2], commit=False)
    keys, values = memory.read()
    assert torch.equal(keys, torch.cat([certain_k, frames[1][0], frames[2][0]], dim=2))
    assert torch.equal(values, torch.cat([certain_v, frames[1][1], frames[2][1]], dim=2))
    if time_major:  # the memory read flattens it without a copy
        assert keys.flatten(2).data_ptr() == keys.data_ptr()
    memory.put(*frames[2], commit=True)
    with pytest.raises(RuntimeError, match='full'):
        memory.put(*frames[2], commit=False)


def test_benchmark_memory_vs_t_measures_each_clip_length_in_a_fresh_process(capsys):
    from scripts.benchmark import main
    rows = main(['--memory-vs-t', '3,5', '--size', '32x48', '--prob-storage', 'disk', '--cache-mb', '0.3'])
    assert [r['t'] for r in rows] == [3, 5] and rows[0]['peak_vs_first_t'] == 1.0
    assert all(r['peak_mb'] >= r['first_pass_peak_mb'] >= r['baseline_peak_mb'] > 0 for r in rows)
    assert all(r['prob_storage'] == 'disk' and r['prob_mb'] == 0 for r in rows)
    assert all(0 < r['feature_cache_mb'] <= 0.3 for r in rows)  # the cache limit reaches the probe process
    with pytest.raises(SystemExit):
        main(['--memory-vs-t', '2,30'])
    assert 'frame counts must be >= 3' in capsys.readouterr().err
