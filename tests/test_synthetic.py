"""Synthetic data generator: layouts, determinism, motion, scribbles, and a real DAVIS interactive session on it."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from dataset.synthetic import LOOKS, SyntheticConfig, generate, object_strokes, render_video
from util.image_io import read_labels, read_palette
from util.palette import DAVIS_PALETTE

TINY = dict(height=64, width=96, static_images=2, vos_videos=2, vos_frames=4, davis_train=1, davis_val=2,
            davis_frames=4, davis_scribbles=2, min_objects=1, max_objects=2)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('synth')
    generate(out, SyntheticConfig(**TINY))
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def test_generator_writes_static_vos_and_davis_layouts(tiny):
    assert sorted(p.name for p in (tiny / 'static').iterdir()) == ['00000.jpg', '00000.png', '00001.jpg', '00001.png']
    mask = Image.open(tiny / 'static' / '00000.png')
    assert mask.mode == 'L' and set(np.unique(np.asarray(mask))) <= {0, 255} and np.asarray(mask).max() == 255
    for video in ('synth_vos_0000', 'synth_vos_0001'):
        assert len(list((tiny / 'vos' / 'JPEGImages' / video).glob('*.jpg'))) == 4
        assert len(list((tiny / 'vos' / 'Annotations' / video).glob('*.png'))) == 4
    davis = tiny / 'davis'
    assert (davis / 'ImageSets' / '2017' / 'train.txt').read_text() == 'synth_train_000\n'
    assert (davis / 'ImageSets' / '2017' / 'val.txt').read_text() == 'synth_val_000\nsynth_val_001\n'
    png = davis / 'Annotations' / '480p' / 'synth_val_000' / '00000.png'
    assert Image.open(png).mode == 'P' and np.array_equal(read_palette(png), DAVIS_PALETTE)
    jpg = Image.open(davis / 'JPEGImages' / '480p' / 'synth_val_000' / '00003.jpg')
    assert jpg.size == (96, 64) and jpg.mode == 'RGB'


def test_same_seed_gives_identical_files_and_another_seed_differs(tiny, tmp_path):
    generate(tmp_path / 'again', SyntheticConfig(**TINY))
    generate(tmp_path / 'other', SyntheticConfig(**{**TINY, 'seed': 1}))
    first = _files(tiny)
    assert first == _files(tmp_path / 'again')
    assert first.keys() == _files(tmp_path / 'other').keys() and first != _files(tmp_path / 'other')


def test_every_davis_object_is_visible_on_the_first_frame(tiny):
    for seq in ('synth_train_000', 'synth_val_000', 'synth_val_001'):
        labels = np.stack([read_labels(p) for p in sorted((tiny / 'davis' / 'Annotations' / '480p' / seq).glob('*'))])
        k = labels.max()
        assert 1 <= k <= 2 and all((labels[0] == j).sum() >= 30 for j in range(1, k + 1))


def test_initial_scribbles_follow_the_davis_format_and_lie_inside_their_objects(tiny):
    davis = tiny / 'davis'
    for seq in ('synth_val_000', 'synth_val_001'):
        labels = np.stack([read_labels(p) for p in sorted((davis / 'Annotations' / '480p' / seq).glob('*'))])
        for j in (1, 2):
            data = json.loads((davis / 'Scribbles' / seq / f'{j:03d}.json').read_text())
            assert data['sequence'] == seq and len(data['scribbles']) == len(labels)
            annotated = [t for t, strokes in enumerate(data['scribbles']) if strokes]
            assert len(annotated) == 1
            t = annotated[0]
            strokes = data['scribbles'][t]
            assert {s['object_id'] for s in strokes} == set(range(1, labels.max() + 1))
            for s in strokes:
                assert isinstance(s['start_time'], int) and isinstance(s['end_time'], int)
                assert s['start_time'] < s['end_time']
                path = np.asarray(s['path'])
                assert len(path) >= 2 and path.min() >= 0 and path.max() <= 1
                xs = (path[:, 0] * 95).astype(int)  # how davisinteractive rasterises: x * (W-1), truncated
                ys = (path[:, 1] * 63).astype(int)
                assert (labels[t][ys, xs] == s['object_id']).mean() == 1.0


def test_strokes_follow_the_long_axis_of_an_object():
    mask = np.zeros((40, 100), bool)
    mask[10:30, 10:90] = True
    (stroke,) = object_strokes(mask)
    xs = [x for x, _ in stroke]
    assert max(xs) - min(xs) > 50 and all(mask[y, x] for x, y in stroke)


def test_objects_move_so_copying_the_first_mask_is_a_poor_baseline():
    rng = np.random.default_rng(5)
    scores = []
    for _ in range(4):
        _, labels = render_video(rng, 12, 96, 160, num_objects=2)
        for k in (1, 2):
            scores += [_jaccard(labels[0] == k, labels[t] == k) for t in range(1, 12) if (labels[0] == k).any()]
    assert np.mean(scores) < 0.5


def _saturation(video: np.ndarray) -> np.ndarray:
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2HSV)[..., 1] for f in video]).astype(np.float32)


def _inside_outside(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels well inside the labelled objects and well outside them, [T,H,W] bool each."""
    inner = np.stack([cv2.erode((lab > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0 for lab in labels])
    outer = np.stack([cv2.dilate((lab > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0 for lab in labels])
    return inner, outer


def test_salient_look_separates_objects_by_saturation_and_the_default_look_does_not():
    salient = render_video(np.random.default_rng(7), 6, 96, 160, num_objects=2, look='salient')
    inner, outer = _inside_outside(salient[1])
    sat = _saturation(salient[0])
    assert sat[inner].mean() > 2.5 * sat[outer].mean()
    ratios = []
    for seed in range(6):  # the default look draws objects, distractors and background from one distribution
        video, labels = render_video(np.random.default_rng(seed), 2, 96, 160, num_objects=2)
        inner, outer = _inside_outside(labels)
        ratios.append(_saturation(video)[inner].mean() / _saturation(video)[outer].mean())
    assert 0.6 < np.mean(ratios) < 1.6, ratios


@pytest.mark.parametrize('look', sorted(LOOKS))
def test_every_look_renders_its_objects_and_distractors_stay_unlabelled(look):
    video, labels = render_video(np.random.default_rng(3), 3, 96, 160, num_objects=2, look=look)
    assert video.shape == (3, 96, 160, 3) and set(np.unique(labels)) <= {0, 1, 2} and labels.max() >= 1
    bare = render_video(np.random.default_rng(3), 1, 96, 160, num_objects=0, look=look, clutter=(0, 0))
    assert bare[1].max() == 0  # distractors (when the look has them) are never labelled


def test_the_unseen_look_has_smaller_objects_than_the_default_look():
    areas = {look: np.mean([(render_video(np.random.default_rng(s), 1, 120, 216, 1, look=look)[1] > 0).mean()
                            for s in range(8)]) for look in ('shared', 'cells')}
    assert areas['cells'] < 0.5 * areas['shared'], areas


def test_clutter_count_is_configurable():
    bare = render_video(np.random.default_rng(1), 1, 96, 160, num_objects=1, motion=0.0, clutter=(0, 0))[0][0]
    busy = render_video(np.random.default_rng(1), 1, 96, 160, num_objects=1, motion=0.0, clutter=(12, 12))[0][0]
    assert not np.array_equal(bare, busy)
    with pytest.raises(ValueError, match='clutter'):
        SyntheticConfig(clutter=(3, 1))


def test_zero_motion_keeps_every_object_in_place():
    _, labels = render_video(np.random.default_rng(0), 3, 64, 96, num_objects=2, motion=0.0)
    assert (labels == labels[0]).all() and labels.max() >= 1


def test_invalid_config_and_non_empty_output_are_refused(tmp_path, tiny):
    with pytest.raises(ValueError, match='min_objects'):
        SyntheticConfig(min_objects=3, max_objects=2)
    with pytest.raises(ValueError, match='height and width'):
        SyntheticConfig(height=16)
    with pytest.raises(FileExistsError, match='not empty'):
        generate(tiny, SyntheticConfig(**TINY))


def test_cli_generates_with_the_given_options(tmp_path):
    from scripts.make_synthetic import build_parser, main
    roots = main([str(tmp_path / 'cli'), '--height', '48', '--width', '64', '--static-images', '1', '--vos-videos',
                  '1', '--vos-frames', '2', '--davis-train', '0', '--davis-val', '1', '--davis-frames', '3',
                  '--clutter', '0,1', '--salient'])
    assert Image.open(roots['static'] / '00000.jpg').size == (64, 48)
    config = json.loads((tmp_path / 'cli' / 'config.json').read_text())
    assert config['look'] == 'salient' and config['clutter'] == [0, 1]
    with pytest.raises(SystemExit):
        build_parser().parse_args([str(tmp_path / 'x'), '--clutter', '3'])
    with pytest.raises(SystemExit):  # a config the generator refuses is a usage error, not a traceback
        main([str(tmp_path / 'y'), '--clutter', '3,1'])
    assert len(list((roots['davis'] / 'Annotations' / '480p' / 'synth_val_000').glob('*.png'))) == 3
    help_text = build_parser().format_help()
    for option in ('--seed', '--height', '--width', '--static-images', '--vos-videos', '--vos-frames',
                   '--davis-train', '--davis-val', '--davis-frames', '--davis-scribbles', '--min-objects',
                   '--max-objects', '--motion', '--clutter', '--look', '--salient', '--workers'):
        assert option in help_text


def test_generated_davis_root_runs_in_a_real_interactive_session(tiny, tmp_path):
    from evaluation.davis_compat import patch_davisinteractive, registered_sequences
    patch_davisinteractive()
    from davisinteractive.session import DavisInteractiveSession
    davis = tiny / 'davis'
    with registered_sequences(davis, 'val') as facts:
        assert facts['synth_val_000']['num_scribbles'] == 2 and facts['synth_val_000']['image_size'] == [96, 64]
        with DavisInteractiveSession(davis_root=str(davis), subset='val', max_nb_interactions=2,
                                     report_save_dir=str(tmp_path)) as sess:
            samples = 0
            while sess.next():
                seq, scribbles, new = sess.get_scribbles(only_last=True)
                samples += new
                gt = np.stack([read_labels(p) for p in sorted((davis / 'Annotations' / '480p' / seq).glob('*'))])
                sess.submit_masks(gt)
            summary = sess.get_global_summary()
    assert samples == 4  # 2 sequences x 2 scribble files
    assert summary['curve']['J_AND_F'][1:] == pytest.approx([1.0, 1.0, 1.0])
