"""VOS clip dataset (propagation stages 1/2): frame sampler, object rules, sample format, mixtures, bad input."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from util.image_io import DatasetError
from dataset.rng import SampleRng
from dataset.vos_dataset import (VOSDataset, build_stage2_mixture, sample_frame_indices, select_objects,
                                 set_max_skip)
from synthetic_data import write_palette, write_vos


def _draws(length: int, max_skip: int, draws: int = 3000) -> np.ndarray:
    rng = SampleRng(0)
    return np.array([sample_frame_indices(length, max_skip, rng) for _ in range(draws)])  # [draws, 3]


def test_sampled_frames_are_at_most_max_skip_plus_one_apart_and_larger_skips_spread_them():
    for jump in (5, 25):
        idx = _draws(100, jump)
        gaps = np.abs(np.diff(idx, axis=1))
        assert gaps.max() == jump + 1 and idx.min() >= 0 and idx.max() <= 99
    assert np.abs(np.diff(_draws(100, 25), axis=1)).mean() > 3 * np.abs(np.diff(_draws(100, 5), axis=1)).mean()


def test_sampled_clips_run_forwards_or_backwards_with_equal_chance():
    idx = _draws(100, 10)
    assert (idx[:, 0] != idx[:, 2]).all()
    assert 0.45 < (idx[:, 0] < idx[:, 2]).mean() < 0.55


def test_videos_not_longer_than_the_skip_start_with_a_repeated_first_frame_as_the_original():
    idx = _draws(6, 10, draws=200)
    forward = np.where(idx[:, :1] <= idx[:, 2:], idx, idx[:, ::-1])
    assert (forward[:, 0] == 0).all() and (forward[:, 1] == 0).all() and (forward[:, 2] <= 5).all()


def bl_rule_clip(side: int) -> np.ndarray:
    """Objects 1-4 at the BL30K rule's boundaries, drawn in a side x side crop (sizes relative to 384 px)."""
    f = side / 384
    labels = np.zeros((3, side, side), np.uint8)
    box = lambda y, x, n: (slice(round(y * f), round((y + n) * f)), slice(round(x * f), round((x + n) * f)))
    labels[(0, *box(0, 0, 5))] = 1  # 25 px at 384: too small
    labels[(0, *box(10, 10, 15))] = 2  # 225 px, small everywhere: kept
    labels[(0, *box(30, 30, 15))] = 3  # 225 px here but large in frame 1: dropped
    labels[(1, *box(30, 30, 50))] = 3
    labels[(0, *box(100, 100, 40))] = 4  # 1600 px: kept
    return labels


def test_bl30k_rules_drop_tiny_objects_and_small_cuts_of_large_objects():
    labels = bl_rule_clip(384)
    assert select_objects(labels, is_bl=True) == [2, 4]
    assert select_objects(labels, is_bl=False) == [1, 2, 3, 4]


def test_bl30k_rules_scale_with_the_crop_area():
    """The 384 px rule on a 128 px crop: the same objects kept (absolute pixel counts would drop object 2)."""
    assert select_objects(bl_rule_clip(128), is_bl=True) == [2, 4]


def test_vos_sample_has_documented_keys_shapes_and_consistent_labels(tmp_path):
    im_root, gt_root = write_vos(tmp_path, {'a': 5, 'b': 7})
    sample = VOSDataset(im_root, gt_root, max_skip=5, is_bl=False, size=32, seed=0)[1]
    assert set(sample) == {'rgb', 'gt', 'sec_gt', 'cls_gt', 'selector', 'info'}
    assert sample['rgb'].shape == (3, 3, 32, 32) and sample['rgb'].dtype == torch.float32
    for key in ('gt', 'sec_gt'):
        assert sample[key].shape == (3, 1, 32, 32) and set(sample[key].unique().tolist()) <= {0.0, 1.0}
    assert sample['cls_gt'].dtype == torch.int64 and sample['cls_gt'].shape == (3, 32, 32)
    assert torch.equal(sample['cls_gt'], (sample['gt'] + 2 * sample['sec_gt'])[:, 0].long())
    assert sample['selector'].tolist() == [1.0, 1.0] and sample['gt'][0].sum() > 0
    assert sample['info']['name'] == 'b' and len(sample['info']['frames']) == 3


def test_single_object_videos_get_selector_one_zero_and_empty_second_mask(tmp_path):
    im_root, gt_root = write_vos(tmp_path, {'a': 4}, n_objects=1)
    sample = VOSDataset(im_root, gt_root, 5, is_bl=False, size=24, seed=1)[0]
    assert sample['selector'].tolist() == [1.0, 0.0] and sample['sec_gt'].sum() == 0


def test_video_without_objects_gives_an_empty_target_after_the_retries(tmp_path):
    im_root, gt_root = write_vos(tmp_path, {'a': 3}, n_objects=0)
    sample = VOSDataset(im_root, gt_root, 5, is_bl=False, size=24, seed=1)[0]
    assert sample['gt'].sum() == 0 and sample['info']['num_objects'] == 0 and sample['selector'].tolist() == [1, 0]


def test_same_seed_gives_the_same_clip(tmp_path):
    im_root, gt_root = write_vos(tmp_path, {'a': 8})
    a, b = (VOSDataset(im_root, gt_root, 5, is_bl=True, size=24, seed=9)[0] for _ in range(2))
    assert torch.equal(a['rgb'], b['rgb']) and torch.equal(a['cls_gt'], b['cls_gt'])


def test_max_skip_setter_applies_the_youtube_divisor_and_rejects_zero_skips(tmp_path):
    im_root, gt_root = write_vos(tmp_path, {'a': 3})
    ds = VOSDataset(im_root, gt_root, 5, is_bl=False, skip_divisor=5)
    assert ds.effective_skip == 1
    ds.set_max_skip(25)
    assert ds.effective_skip == 5
    with pytest.raises(ValueError, match='max_skip 4 // skip_divisor 5'):
        ds.set_max_skip(4)
    ds.set_max_skip(0)
    assert ds.effective_skip == 0


def test_max_skip_zero_samples_one_frame_three_times():
    draws = _draws(10, 0, draws=200)
    assert (draws == draws[:, :1]).all() and len(set(draws[:, 0])) == 10


def test_stage2_mixture_repeats_davis_five_times_uses_subsets_and_passes_max_skip(tmp_path):
    davis = tmp_path / 'DAVIS' / '2017' / 'trainval'
    write_vos(tmp_path / 'd', {'bear': 3, 'boat': 3, 'val': 3})
    (davis / 'JPEGImages').mkdir(parents=True)
    (davis / 'Annotations').mkdir(parents=True)
    (tmp_path / 'd' / 'JPEGImages').rename(davis / 'JPEGImages' / '480p')
    (tmp_path / 'd' / 'Annotations').rename(davis / 'Annotations' / '480p')
    (davis / 'ImageSets' / '2017').mkdir(parents=True)
    (davis / 'ImageSets' / '2017' / 'train.txt').write_text('bear\nboat\n')
    write_vos(tmp_path / 'YouTube' / 'train_480p', {'y1': 3, 'y2': 3, 'y3': 3})
    (tmp_path / 'yv_subset.txt').write_text('y1\ny3\n')
    mixture = build_stage2_mixture(tmp_path / 'YouTube', tmp_path / 'DAVIS', 5, tmp_path / 'yv_subset.txt', size=16)
    assert len(mixture) == 5 * 2 + 2
    assert mixture.datasets[0].videos == ['bear', 'boat'] and mixture.datasets[-1].videos == ['y1', 'y3']
    set_max_skip(mixture, 25)
    assert mixture.datasets[0].effective_skip == 25 and mixture.datasets[-1].effective_skip == 5


def test_videos_shorter_than_three_frames_are_skipped_with_a_warning(tmp_path, caplog):
    im_root, gt_root = write_vos(tmp_path, {'long': 4, 'short': 2})
    with caplog.at_level(logging.WARNING):
        ds = VOSDataset(im_root, gt_root, 5, is_bl=False)
    assert ds.videos == ['long'] and ds.skipped_videos == ['short'] and 'skipped 1 videos' in caplog.text


def test_missing_image_root_raises_naming_the_path(tmp_path):
    with pytest.raises(DatasetError, match='JPEGImages does not exist'):
        VOSDataset(tmp_path / 'JPEGImages', tmp_path, 5, is_bl=False)


def test_root_without_videos_raises(tmp_path):
    (tmp_path / 'im').mkdir()
    with pytest.raises(DatasetError, match='no video with >= 3 frames'):
        VOSDataset(tmp_path / 'im', tmp_path, 5, is_bl=False)


def test_frames_without_annotation_raise_naming_the_video(tmp_path):
    im_root, gt_root = write_vos(tmp_path, {'a': 4})
    (gt_root / 'a' / '00002.png').unlink()
    with pytest.raises(DatasetError, match=r'1 of 4 frames of .*a have no annotation .*00002.png'):
        VOSDataset(im_root, gt_root, 5, is_bl=False)


def test_rgb_annotation_in_unknown_colours_raises_saying_ids_are_needed(tmp_path):
    im_root, gt_root = write_vos(tmp_path, {'a': 3})
    for f in range(3):
        Image.new('RGB', (64, 48), (3, 200, 9)).save(gt_root / 'a' / f'{f:05d}.png')
    with pytest.raises(DatasetError, match=r'00000.png is an RGB image with colours \(3,200,9\).*object ids'):
        VOSDataset(im_root, gt_root, 5, is_bl=False, size=16, seed=0)[0]


def test_annotation_of_another_size_raises_naming_both_files(tmp_path):
    im_root, gt_root = write_vos(tmp_path, {'a': 3})
    for f in range(3):
        write_palette(gt_root / 'a' / f'{f:05d}.png', np.zeros((10, 10), np.uint8))
    with pytest.raises(DatasetError, match='is 64x48 but its mask .* is 10x10'):
        VOSDataset(im_root, gt_root, 5, is_bl=False, size=16, seed=0)[0]
