"""S2M samples, previous-mask perturbation, scribble/click synthesis and the LVIS reader."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from util.image_io import DatasetError
from dataset.lvis import load_lvis
from dataset.mask_perturbation import perturb_mask, previous_mask
from dataset.s2m_dataset import S2MDataset, build_s2m_mixture
from dataset.scribble_synthesis import (click_points, component_scribbles, robot_scribble, synthesize_clicks,
                                        synthesize_scribbles)
from synthetic_data import polygon_mask, textured_image, write_flat_static
from util.metrics import jaccard


def _blob(h: int = 80, w: int = 100, seed: int = 0) -> np.ndarray:
    return polygon_mask(np.random.default_rng(seed), h, w) > 0


@pytest.mark.parametrize('interaction', ['scribbles', 'clicks', 'mixed'])
def test_s2m_sample_has_documented_keys_and_interactions_on_the_right_side(tmp_path, interaction):
    ds = S2MDataset(write_flat_static(tmp_path / 'syn', 2, 60, 70), size=48, interaction=interaction, seed=2)
    for index in range(2):
        sample = ds[index]
        assert set(sample) == {'rgb', 'gt', 'prev', 'pos', 'neg', 'cls_gt', 'info'}
        assert sample['rgb'].shape == (3, 48, 48) and sample['rgb'].dtype == torch.float32
        for key in ('gt', 'prev', 'pos', 'neg'):
            assert sample[key].shape == (1, 48, 48) and set(sample[key].unique().tolist()) <= {0.0, 1.0}
        assert sample['cls_gt'].shape == (48, 48) and torch.equal(sample['cls_gt'], sample['gt'][0].long())
        if sample['info']['interaction'] == 'scribbles':
            assert (sample['pos'] * (1 - sample['gt'])).sum() == 0 and (sample['neg'] * sample['gt']).sum() == 0
        else:  # click disks are centred inside their error region but may overhang its border
            assert (sample['pos'] * sample['gt']).sum() > 0
        assert sample['pos'].sum() > 0
        assert torch.cat([sample['rgb'], sample['prev'], sample['pos'], sample['neg']]).shape == (6, 48, 48)
        assert sample['info']['interaction'] in (('scribbles', 'clicks') if interaction == 'mixed' else (interaction,))


def test_same_seed_gives_the_same_s2m_sample(tmp_path):
    root = write_flat_static(tmp_path / 'syn', 1, 60, 70)
    a, b = (S2MDataset(root, size=48, seed=4)[0] for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in ('rgb', 'gt', 'prev', 'pos', 'neg'))


def test_unknown_interaction_kind_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'taps'"):
        S2MDataset(write_flat_static(tmp_path / 'syn', 1), interaction='taps')


def test_perturbed_mask_falls_below_the_target_iou_and_tracks_it():
    gt = _blob()
    rng = np.random.default_rng(0)
    ious = {target: [jaccard(gt, perturb_mask(gt, target, rng)) for _ in range(10)] for target in (0.5, 0.9)}
    assert all(v < target for target, values in ious.items() for v in values)
    assert np.mean(ious[0.9]) > np.mean(ious[0.5]) + 0.15


def test_previous_mask_is_empty_about_a_third_of_the_time():
    gt = _blob(40, 40)
    rng = np.random.default_rng(1)
    empty = [previous_mask(gt, rng)[1] for _ in range(300)]
    assert 0.25 < np.mean(empty) < 0.41


def test_click_lands_on_the_innermost_point_and_small_regions_get_none():
    region = np.zeros((50, 60), bool)
    region[10:31, 20:41] = True  # 21x21 square centred at (20, 30)
    region[45:47, 2:4] = True  # 4 px: below the minimum area
    assert click_points(region) == [(20, 30)]


def test_clicks_are_positive_in_missed_regions_and_negative_in_false_alarms():
    gt = np.zeros((50, 60), bool)
    gt[5:25, 5:25] = True
    prev = np.zeros_like(gt)
    prev[30:45, 35:55] = True
    pos, neg = synthesize_clicks(gt, prev, radius=3)
    assert pos[15, 15] and neg[37, 45] and pos.sum() == neg.sum() == 29  # a radius-3 disk is 29 px


def test_robot_scribble_follows_the_inside_of_a_large_region():
    region = _blob(120, 160)
    stroke = robot_scribble(region, np.random.default_rng(0))
    assert stroke.sum() > 20 and (stroke & ~region).sum() < 0.2 * stroke.sum()


def test_component_scribbles_stay_near_their_region():
    region = _blob(120, 160, seed=3)
    rng = np.random.default_rng(5)
    strokes = [component_scribbles(region, rng) for _ in range(6)]
    assert any(s.any() for s in strokes) and all((s & ~region).sum() <= (s.sum() * 0.5) for s in strokes)


def test_scribbles_from_zero_mark_the_object_positive_and_background_negative():
    gt = _blob()
    rng = np.random.default_rng(2)
    for _ in range(4):
        pos, neg = synthesize_scribbles(gt, np.zeros_like(gt), True, rng)
        assert pos.any() and not (pos & ~gt).any() and not (neg & gt).any()


def _write_lvis(root, images, annotations):
    (root / 'train2017').mkdir(parents=True)
    (root / 'lvis_v1_train.json').write_text(json.dumps({'images': images, 'annotations': annotations}))


def _square(x, y, side):
    return [[x, y, x + side, y, x + side, y + side, x, y + side]]


def test_lvis_reader_keeps_polygons_skips_rle_and_small_targets(tmp_path, caplog):
    images = [{'id': 1, 'coco_url': 'http://x/train2017/000001.jpg', 'height': 90, 'width': 100},
              {'id': 2, 'coco_url': 'http://x/train2017/000002.jpg', 'height': 90, 'width': 100},
              {'id': 3, 'coco_url': 'http://x/train2017/000003.jpg', 'height': 90, 'width': 100}]
    annotations = [{'image_id': 1, 'area': 3600.0, 'segmentation': _square(10, 10, 60)},
                   {'image_id': 1, 'area': 1600.0, 'segmentation': _square(70, 50, 40)},
                   {'image_id': 2, 'area': 400.0, 'segmentation': _square(5, 5, 20)},
                   {'image_id': 3, 'area': 5000.0, 'segmentation': {'counts': 'abc', 'size': [90, 100]}}]
    _write_lvis(tmp_path, images, annotations)
    rng = np.random.default_rng(0)
    for i in (1, 2):
        Image.fromarray(textured_image(rng, 90, 100)).save(tmp_path / 'train2017' / f'00000{i}.jpg')
    parsed = load_lvis(tmp_path / 'lvis_v1_train.json')
    assert [im.file_name for im in parsed] == ['000001.jpg', '000002.jpg']
    with caplog.at_level(logging.WARNING):
        ds = S2MDataset(lvis_root=tmp_path, size=48, seed=0)
    assert len(ds) == 1 and 'skipped 1 RLE-encoded' in caplog.text  # image 2 has only a 20x20 instance
    sample = ds[0]
    assert sample['gt'].sum() > 0.2 * 48 * 48 and sample['info']['name'] == '000001.jpg'


def test_lvis_image_missing_from_train2017_is_skipped_with_a_warning(tmp_path, caplog):
    images = [{'id': 1, 'coco_url': 'http://x/train2017/000001.jpg', 'height': 90, 'width': 100}]
    _write_lvis(tmp_path, images, [{'image_id': 1, 'area': 3600.0, 'segmentation': _square(10, 10, 60)}])
    with caplog.at_level(logging.WARNING), pytest.raises(DatasetError, match='no LVIS image'):
        S2MDataset(lvis_root=tmp_path)
    assert 'skipped 1 images missing' in caplog.text


def test_broken_lvis_json_raises_naming_the_file(tmp_path):
    (tmp_path / 'train2017').mkdir()
    (tmp_path / 'lvis_v1_train.json').write_text('{"images": [')
    with pytest.raises(DatasetError, match='lvis_v1_train.json is not an LVIS'):
        S2MDataset(lvis_root=tmp_path)


def test_s2m_mixture_doubles_the_static_data_and_appends_lvis(tmp_path):
    write_flat_static(tmp_path / 'static' / 'DUTS-TR', 2)
    write_flat_static(tmp_path / 'static' / 'BIG_small', 1)
    mixture = build_s2m_mixture(tmp_path / 'static', size=32)
    assert len(mixture) == 2 * (2 + 5 * 1)
