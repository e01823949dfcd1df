"""Fusion dataset: sample format, reference/frame rules, rejection of near-identical propagations, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dataset.fusion_dataset import FusionDataset
from util.image_io import DatasetError, read_labels
from synthetic_data import write_fusion_tree, write_vos


def _video(tmp_path, frames=6, n_objects=2):
    im_root, gt_root = write_vos(tmp_path, {'vid': frames}, h=48, w=64, n_objects=n_objects)
    labels = np.stack([read_labels(p) for p in sorted((gt_root / 'vid').iterdir())])
    return im_root, gt_root, labels


def test_fusion_sample_has_documented_keys_shapes_and_distances(tmp_path):
    im_root, gt_root, labels = _video(tmp_path)
    write_fusion_tree(tmp_path / 'fusion', labels, {0: 2, 4: 8})
    ds = FusionDataset(tmp_path / 'fusion', im_root, gt_root, size=32, seed=0)
    assert len(ds) == 100
    sample = ds[3]
    masks = ('gt', 'seg1', 'seg2', 'src2_ref', 'src2_ref_gt')
    assert set(sample) == {*masks, *(f'sec_{k}' for k in masks), 'rgb', 'src2_ref_im', 'dist', 'selector',
                           'cls_gt', 'info'}
    for key in (*masks, *(f'sec_{k}' for k in masks)):
        assert sample[key].shape == (1, 32, 32) and sample[key].dtype == torch.float32
        assert 0 <= sample[key].min() and sample[key].max() <= 1
    assert sample['rgb'].shape == sample['src2_ref_im'].shape == (3, 32, 32)
    assert sample['cls_gt'].dtype == torch.int64 and sample['cls_gt'].shape == (32, 32)
    assert torch.equal(sample['cls_gt'], (sample['gt'][0] + 2 * sample['sec_gt'][0]).long())
    info = sample['info']
    assert {info['r1'], info['r2']} == {0, 4} and sample['selector'].tolist() == [1.0, 1.0]
    expected = torch.tensor([abs(info['r1'] - info['frame']), abs(info['r2'] - info['frame'])]) / 4
    assert torch.allclose(sample['dist'], expected)


def test_same_seed_gives_the_same_fusion_sample(tmp_path):
    im_root, gt_root, labels = _video(tmp_path)
    write_fusion_tree(tmp_path / 'fusion', labels, {0: 2, 3: 9})
    a, b = (FusionDataset(tmp_path / 'fusion', im_root, gt_root, size=32, seed=1)[7] for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in ('rgb', 'seg1', 'seg2', 'src2_ref', 'dist'))


def test_near_identical_propagations_are_rejected_while_a_differing_pair_exists(tmp_path):
    im_root, gt_root, labels = _video(tmp_path)
    write_fusion_tree(tmp_path / 'fusion', labels, {0: 3, 2: 3, 5: 12})  # refs 0 and 2 agree everywhere
    ds = FusionDataset(tmp_path / 'fusion', im_root, gt_root, size=32, seed=2)
    pairs = {frozenset((ds[i]['info']['r1'], ds[i]['info']['r2'])) for i in range(12)}
    assert frozenset((0, 2)) not in pairs and pairs


def test_only_identical_propagations_are_accepted_after_fifteen_trials(tmp_path):
    im_root, gt_root, labels = _video(tmp_path)
    write_fusion_tree(tmp_path / 'fusion', labels, {0: 3, 2: 3})
    sample = FusionDataset(tmp_path / 'fusion', im_root, gt_root, size=32, seed=0)[0]
    assert torch.equal(sample['seg1'], sample['seg2'])


def test_single_object_gives_zero_second_object_tensors(tmp_path):
    im_root, gt_root, labels = _video(tmp_path, n_objects=1)
    write_fusion_tree(tmp_path / 'fusion', labels, {0: 2, 4: 9})
    sample = FusionDataset(tmp_path / 'fusion', im_root, gt_root, size=32, seed=0)[0]
    assert sample['selector'].tolist() == [1.0, 0.0]
    assert all(sample[f'sec_{k}'].sum() == 0 for k in ('gt', 'seg1', 'seg2', 'src2_ref', 'src2_ref_gt'))


def test_crop_larger_than_the_frames_raises_instead_of_padding(tmp_path):
    im_root, gt_root, labels = _video(tmp_path)
    write_fusion_tree(tmp_path / 'fusion', labels, {0: 2, 4: 9})
    with pytest.raises(DatasetError, match='64x48, smaller than the crop 384'):
        FusionDataset(tmp_path / 'fusion', im_root, gt_root, seed=0)[0]


def test_videos_propagated_from_a_single_reference_are_unusable(tmp_path):
    im_root, gt_root, labels = _video(tmp_path)
    write_fusion_tree(tmp_path / 'fusion', labels, {0: 2})
    with pytest.raises(DatasetError, match='no video with propagations from >= 2 reference frames'):
        FusionDataset(tmp_path / 'fusion', im_root, gt_root)


def test_rgb_probability_maps_raise_naming_the_file(tmp_path):
    im_root, gt_root, labels = _video(tmp_path)
    tree = write_fusion_tree(tmp_path / 'fusion', labels, {0: 2, 4: 9}, objects=(1,))
    for png in tree.rglob('*.png'):
        Image.open(png).convert('RGB').save(png)
    with pytest.raises(DatasetError, match=r'\d{5}.png is a RGB image; probability maps must be greyscale'):
        FusionDataset(tmp_path / 'fusion', im_root, gt_root, size=32, seed=0)[0]


def test_missing_fusion_root_raises_naming_the_path(tmp_path):
    with pytest.raises(DatasetError, match='fusion data folder .*nope does not exist'):
        FusionDataset(tmp_path / 'nope', tmp_path, tmp_path)


def test_the_difference_rule_is_checked_inside_the_crop(tmp_path):
    """The references disagree only around an object at the left edge; crops that miss it are redrawn."""
    im_root, gt_root, _ = _video(tmp_path)
    labels = np.zeros((6, 48, 64), np.uint8)
    labels[:, 10:30, 2:14] = 1
    write_fusion_tree(tmp_path / 'fusion', labels, {0: 0, 4: 8})
    ds = FusionDataset(tmp_path / 'fusion', im_root, gt_root, size=32, seed=3)
    for i in range(12):
        sample = ds[i]
        assert ((sample['seg1'] - sample['seg2']).abs() > 0.1).sum() >= 100
