"""davisinteractive 1.0.4 through evaluation.davis_compat: full real sessions on a tiny DAVIS-format set made here."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.davis_compat import patch_davisinteractive, registered_sequences, sequence_facts
from util.palette import write_labels

H, W, T = 64, 96, 4
SEQUENCES = ('zz_boxes_a', 'zz_boxes_b')


def _labels(seq_index: int, t: int) -> np.ndarray:
    """Two moving rectangles (objects 1, 2); the second sequence has one object only."""
    lab = np.zeros((H, W), np.uint8)
    lab[10 + 3 * t:34 + 3 * t, 8 + 6 * t:40 + 6 * t] = 1
    if seq_index == 0:
        lab[36:60, 60 - 5 * t:90 - 5 * t] = 2
    return lab


def _make_davis(root: Path) -> Path:
    """Annotations/480p + Scribbles/<seq>/001.json (one horizontal stroke per object on frame 0) + ImageSets."""
    for s, name in enumerate(SEQUENCES):
        for t in range(T):
            write_labels(root / 'Annotations' / '480p' / name / f'{t:05d}.png', _labels(s, t))
        first = _labels(s, 0)
        strokes = []
        for k in range(1, int(first.max()) + 1):
            ys, xs = np.nonzero(first == k)
            y = ys.mean() / H
            path = [[float(x) / W, float(y)] for x in range(xs.min() + 2, xs.max() - 1, 3)]
            strokes.append({'path': path, 'object_id': k, 'start_time': 100 * k, 'end_time': 100 * k + 50})
        scribble = {'scribbles': [strokes] + [[] for _ in range(T - 1)], 'sequence': name}
        (root / 'Scribbles' / name).mkdir(parents=True)
        (root / 'Scribbles' / name / '001.json').write_text(json.dumps(scribble))
    (root / 'ImageSets' / '2017').mkdir(parents=True)
    (root / 'ImageSets' / '2017' / 'val.txt').write_text('\n'.join(SEQUENCES) + '\n')
    return root


@pytest.fixture
def davis_root(tmp_path: Path) -> Path:
    return _make_davis(tmp_path / 'davis')


def _gt(name: str) -> np.ndarray:
    return np.stack([_labels(SEQUENCES.index(name), t) for t in range(T)])


def _poor_prediction(name: str) -> np.ndarray:
    """A first-frame copy with a chunk missing: far from perfect, so the robot has errors to correct."""
    pred = np.repeat(_gt(name)[:1], T, axis=0)
    pred[:, :, :20] = 0
    return pred


def _run_session(davis_root: Path, method, tmp_path: Path, rounds: int = 3):
    patch_davisinteractive()
    from davisinteractive.session import DavisInteractiveSession
    seen_scribbles = []
    with registered_sequences(davis_root, 'val'):
        with DavisInteractiveSession(davis_root=str(davis_root), subset='val', max_nb_interactions=rounds,
                                     report_save_dir=str(tmp_path / 'reports')) as sess:
            while sess.next():
                seq, scribbles, _ = sess.get_scribbles(only_last=True)
                seen_scribbles.append([[(st['object_id'], st['path']) for st in frame]
                                       for frame in scribbles['scribbles']])  # strokes without their timestamps
                sess.submit_masks(method(seq))
            return sess.get_report(), sess.get_global_summary(), seen_scribbles


def test_perfect_method_scores_one_in_every_round_through_a_full_session(davis_root, tmp_path):
    report, summary, _ = _run_session(davis_root, _gt, tmp_path)
    assert set(summary) >= {'auc', 'metric_at_threshold', 'curve'}
    assert summary['curve']['J_AND_F'][1:] == pytest.approx([1.0] * 4)
    numeric = ['scribble_idx', 'interaction', 'object_id', 'frame', 'jaccard', 'contour', 'j_and_f', 'timing']
    assert all(np.issubdtype(report[c].dtype, np.number) for c in numeric)
    per_round = report.groupby('interaction')['j_and_f'].mean()
    assert list(per_round.index) == [1, 2, 3] and np.allclose(per_round, 1.0)
    # rows = rounds x sum over sequences of frames x objects
    assert len(report) == 3 * T * (2 + 1)


def test_poor_method_runs_through_and_two_runs_give_identical_curves_and_scribbles(davis_root, tmp_path):
    report1, summary1, scribbles1 = _run_session(davis_root, _poor_prediction, tmp_path / 'a')
    report2, summary2, scribbles2 = _run_session(davis_root, _poor_prediction, tmp_path / 'b')
    assert summary1['curve']['J_AND_F'] == summary2['curve']['J_AND_F']
    assert scribbles1 == scribbles2
    assert 0.0 < summary1['metric_at_threshold']['J_AND_F'] < 0.95
    assert report1['j_and_f'].dtype == np.float64
    assert len(scribbles1) == 2 * 3


def test_patch_is_idempotent_and_leaves_numpy_and_networkx_untouched():
    import networkx
    patch_davisinteractive()
    patch_davisinteractive()
    import davisinteractive.robot.interactive_robot as robot
    from davisinteractive.evaluation.service import EvaluationService
    assert not hasattr(np, 'float') and not hasattr(np, 'trapz')
    assert not hasattr(networkx, 'from_scipy_sparse_matrix')
    assert robot.np.float is float and robot.np.int is int and robot.nx.from_scipy_sparse_matrix is not None
    assert not hasattr(EvaluationService.summarize_report._compat_original, '_compat_original')


def test_rle_codec_round_trips_a_mask():
    patch_davisinteractive()
    from davisinteractive.third_party.mask_api import _mask
    m = np.asfortranarray((np.arange(30 * 20).reshape(30, 20, 1) % 7 == 0).astype(np.uint8))
    rles = _mask.encode(m)
    assert np.array_equal(_mask.decode(rles), m)
    assert _mask.area(rles)[0] == m.sum()


def test_facts_are_read_from_disk(davis_root):
    assert sequence_facts(davis_root, 'zz_boxes_a') == {'num_frames': T, 'image_size': [W, H], 'num_objects': 2,
                                                         'num_scribbles': 1}
    assert sequence_facts(davis_root, 'zz_boxes_b')['num_objects'] == 1


def test_registry_is_restored_after_the_block(davis_root):
    patch_davisinteractive()
    from davisinteractive.dataset.davis import Davis
    before = list(Davis.sets['val'])
    with registered_sequences(davis_root, 'val', sequences=['zz_boxes_b']) as facts:
        assert Davis.sets['val'] == ['zz_boxes_b'] and 'zz_boxes_b' in Davis.dataset
        assert list(facts) == ['zz_boxes_b']
    assert Davis.sets['val'] == before and 'zz_boxes_b' not in Davis.dataset


def test_missing_root_annotations_or_scribbles_fail_with_the_path(tmp_path, davis_root):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        with registered_sequences(tmp_path / 'nowhere'):
            pass
    with pytest.raises(ValueError, match='subset'):
        with registered_sequences(davis_root, 'test-dev'):
            pass
    (davis_root / 'Scribbles' / 'zz_boxes_b' / '001.json').unlink()
    with pytest.raises(FileNotFoundError, match='001.json'):
        with registered_sequences(davis_root):
            pass
    import shutil
    shutil.rmtree(davis_root / 'Annotations')
    with pytest.raises(FileNotFoundError, match='Annotations'):
        with registered_sequences(davis_root):
            pass


def test_missing_annotation_file_raises_instead_of_downloading(davis_root, tmp_path):
    patch_davisinteractive()
    from davisinteractive.session import DavisInteractiveSession
    with registered_sequences(davis_root, 'val'):
        (davis_root / 'Annotations' / '480p' / 'zz_boxes_a' / f'{T - 1:05d}.png').unlink()
        with pytest.raises(FileNotFoundError, match='Downloads are disabled'):
            with DavisInteractiveSession(davis_root=str(davis_root), subset='val', max_nb_interactions=1,
                                         report_save_dir=str(tmp_path / 'r')) as sess:
                sess.next()
