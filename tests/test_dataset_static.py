"""Static pseudo-video dataset (propagation stage 0): layouts, sample format, determinism, mixture, bad input."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from util.image_io import DatasetError
from dataset.rng import SampleRng
from dataset.static_dataset import StaticPseudoVideoDataset, find_static_pairs, static_mixture_folders
from dataset.transforms import tps_warp
from synthetic_data import polygon_mask, textured_image, write_flat_static


def test_static_sample_has_documented_keys_shapes_dtypes_and_ranges(tmp_path):
    ds = StaticPseudoVideoDataset(write_flat_static(tmp_path / 'syn', 2), size=32, seed=0)
    sample = ds[1]
    assert set(sample) == {'rgb', 'gt', 'cls_gt', 'info'}
    assert sample['rgb'].shape == (3, 3, 32, 32) and sample['rgb'].dtype == torch.float32
    assert sample['gt'].shape == (3, 1, 32, 32) and sample['gt'].dtype == torch.float32
    assert sample['cls_gt'].shape == (3, 32, 32) and sample['cls_gt'].dtype == torch.int64
    assert set(sample['gt'].unique().tolist()) <= {0.0, 1.0} and sample['gt'].sum() > 0
    assert torch.equal(sample['cls_gt'], sample['gt'][:, 0].long())
    assert -2.2 < sample['rgb'].min() and sample['rgb'].max() < 2.7  # ImageNet-normalised [0, 1]
    assert sample['info'] == {'name': 'im001.jpg'}


def test_the_three_frames_differ_by_per_frame_augmentation(tmp_path):
    sample = StaticPseudoVideoDataset(write_flat_static(tmp_path / 'syn', 1), size=32, seed=3)[0]
    assert not torch.equal(sample['rgb'][0], sample['rgb'][1])


def test_same_seed_gives_the_same_sample_and_other_seeds_differ(tmp_path):
    root = write_flat_static(tmp_path / 'syn', 1)
    a, b = (StaticPseudoVideoDataset(root, size=32, seed=5)[0] for _ in range(2))
    c = StaticPseudoVideoDataset(root, size=32, seed=6)[0]
    assert torch.equal(a['rgb'], b['rgb']) and torch.equal(a['gt'], b['gt'])
    assert not torch.equal(a['rgb'], c['rgb'])


def test_sampling_leaves_the_global_torch_rng_untouched(tmp_path):
    ds = StaticPseudoVideoDataset(write_flat_static(tmp_path / 'syn', 1), size=16, seed=1)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    ds[0]
    assert torch.equal(torch.rand(3), expected)


def test_fss_layout_pairs_are_found_one_level_down(tmp_path):
    write_flat_static(tmp_path / 'fss' / 'cat', 2)
    write_flat_static(tmp_path / 'fss' / 'dog', 3)
    pairs = find_static_pairs(tmp_path / 'fss')
    assert len(pairs) == 5 and all(im.stem == m.stem and im.parent == m.parent for im, m in pairs)
    ds = StaticPseudoVideoDataset(tmp_path / 'fss', size=16, seed=0)
    assert ds[0]['info']['name'] == 'cat/im000.jpg'


def test_tps_warp_is_identity_without_jitter_and_keeps_masks_binary(tmp_path):
    rng = np.random.default_rng(0)
    image = torch.from_numpy(textured_image(rng, 40, 50)).permute(2, 0, 1)
    mask = torch.from_numpy(polygon_mask(rng, 40, 50, value=1)).unsqueeze(0)
    same_im, same_mask = tps_warp(image, mask, SampleRng(1), sigma=0.0)
    assert (same_im.int() - image.int()).abs().max() <= 1 and torch.equal(same_mask, mask)
    warped_im, warped_mask = tps_warp(image, mask, SampleRng(1), sigma=0.05)
    assert set(warped_mask.unique().tolist()) <= {0, 1} and not torch.equal(warped_mask, mask)


def test_static_mixture_repeats_big_and_hrsod_five_times_and_warns_about_missing_folders(tmp_path, caplog):
    for name in ('DUTS-TR', 'BIG_small', 'HRSOD_small'):
        write_flat_static(tmp_path / name, 1)
    with caplog.at_level(logging.WARNING):
        folders = static_mixture_folders(tmp_path)
    assert [f.name for f in folders] == ['DUTS-TR'] + ['BIG_small', 'HRSOD_small'] * 5  # interleaved as the original
    assert 'fss, DUTS-TE, ecssd' in caplog.text


def test_static_mixture_of_a_root_with_one_unnamed_flat_folder_uses_that_folder(tmp_path):
    write_flat_static(tmp_path / 'synthetic', 2)
    assert static_mixture_folders(tmp_path) == [tmp_path / 'synthetic']


def test_missing_root_raises_naming_the_path(tmp_path):
    with pytest.raises(DatasetError, match='nowhere.*does not exist'):
        StaticPseudoVideoDataset(tmp_path / 'nowhere')


def test_folder_without_images_raises(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DatasetError, match='no image/mask pairs'):
        StaticPseudoVideoDataset(tmp_path / 'empty')


def test_image_without_mask_raises_naming_the_folder_and_file(tmp_path):
    root = write_flat_static(tmp_path / 'syn', 2)
    (root / 'im001.png').unlink()
    with pytest.raises(DatasetError, match=r"syn.*without mask, e.g. \['im001'\]"):
        StaticPseudoVideoDataset(root)


def test_mask_of_another_size_raises_naming_both_files(tmp_path):
    root = write_flat_static(tmp_path / 'syn', 1)
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(root / 'im000.png')
    with pytest.raises(DatasetError, match='im000.jpg is 52x40 but its mask .*im000.png is 10x10'):
        StaticPseudoVideoDataset(root, size=16)[0]


def test_corrupt_image_raises_naming_the_file(tmp_path):
    root = write_flat_static(tmp_path / 'syn', 1)
    (root / 'im000.jpg').write_bytes(b'not a jpeg')
    with pytest.raises(DatasetError, match='im000.jpg.*corrupt'):
        StaticPseudoVideoDataset(root, size=16)[0]
