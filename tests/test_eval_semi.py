"""eval_semi_davis.py end to end on a generated DAVIS-format root: masks, results.csv, and bad input."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import binary_erosion

from eval_semi_davis import main
from evaluation.semi import open_dataset, propagate_sequence
from inference.core import InferenceCore
from inference.prob_store import ProbStore
from light_models import save_light_checkpoints, tiny_davis
from scripts import segment_video
from util.image_io import FrameSource, read_labels
from util.palette import write_labels
from util.weights import load_network


@pytest.fixture(scope='module')
def setup(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp('semi')
    return {'davis': tiny_davis(tmp / 'synth'), **save_light_checkpoints(tmp / 'models')}


def _gt(davis: Path, name: str) -> np.ndarray:
    return np.stack([read_labels(p) for p in sorted((davis / 'Annotations' / '480p' / name).glob('*.png'))])


def _eroded(labels: np.ndarray, iterations: int) -> np.ndarray:
    """Every object shrunk by `iterations` px (the prediction the test scores)."""
    out = np.zeros_like(labels)
    for k in range(1, int(labels.max()) + 1):
        for t in range(len(labels)):
            out[t][binary_erosion(labels[t] == k, iterations=iterations)] = k
    return out


def _independent_jf(gts: list[np.ndarray], preds: list[np.ndarray]) -> tuple[float, float]:
    """Mean J and F over all objects (each averaged over frames 1..T-2) with davisinteractive's metrics."""
    from evaluation.davis_compat import patch_davisinteractive
    patch_davisinteractive()
    from davisinteractive.metrics import batched_f_measure, batched_jaccard
    js, fs = [], []
    for gt, pred in zip(gts, preds):
        k = int(gt[0].max())
        js += list(batched_jaccard(gt[1:-1], pred[1:-1], average_over_objects=False, nb_objects=k).mean(0))
        fs += list(batched_f_measure(gt[1:-1], pred[1:-1], average_over_objects=False, nb_objects=k).mean(0))
    return float(np.mean(js)), float(np.mean(fs))


def test_ground_truth_as_prediction_scores_one(setup, tmp_path):
    summary = main(['--davis', str(setup['davis']), '--predictions', str(setup['davis'] / 'Annotations' / '480p'),
                    '--output', str(tmp_path / 'out')])
    table = pd.read_csv(tmp_path / 'out' / 'results.csv')
    assert list(table.columns[:4]) == ['Sequence', 'J-Mean', 'F-Mean', 'J&F-Mean']
    assert list(table['Sequence']) == ['synth_val_000', 'synth_val_001', 'Mean']
    assert np.allclose(table[['J-Mean', 'F-Mean', 'J&F-Mean']], 1.0) and summary['J&F-Mean'] == 1.0


def test_eroded_masks_score_what_davisinteractive_computes_over_the_inner_frames(setup, tmp_path):
    davis, names = setup['davis'], ['synth_val_000', 'synth_val_001']
    gts = [_gt(davis, n) for n in names]
    preds = [_eroded(g, 2) for g in gts]
    for name, pred in zip(names, preds):
        for t, lab in enumerate(pred):
            write_labels(tmp_path / 'pred' / name / f'{t:05d}.png', lab)
    summary = main(['--davis', str(davis), '--predictions', str(tmp_path / 'pred'), '--output', str(tmp_path / 'o')])
    j, f = _independent_jf(gts, preds)
    assert summary['J-Mean'] == pytest.approx(j, abs=1e-9) and summary['F-Mean'] == pytest.approx(f, abs=1e-9)
    assert summary['J&F-Mean'] == pytest.approx((j + f) / 2, abs=1e-9) and summary['J&F-Mean'] < 0.95
    mean_row = pd.read_csv(tmp_path / 'o' / 'results.csv').iloc[-1]
    assert mean_row['J&F-Mean'] == pytest.approx((j + f) / 2, abs=1e-6)


def test_network_run_writes_every_frame_in_the_submission_layout_and_reports_speed(setup, tmp_path):
    out = tmp_path / 'out'
    summary = main(['--prop_model', str(setup['propagation']), '--davis', str(setup['davis']),
                    '--sequences', 'synth_val_001', '--output', str(out)])
    pngs = sorted((out / 'synth_val_001').glob('*.png'))
    assert [p.name for p in pngs] == [f'{t:05d}.png' for t in range(5)]
    assert np.array_equal(read_labels(pngs[0]), _gt(setup['davis'], 'synth_val_001')[0])  # the given mask
    assert summary['frames'] == 5 and summary['fps'] > 0 and summary['peak_memory_mb'] > 0
    assert 0 <= summary['J&F-Mean'] <= 1 and json.loads((out / 'summary.json').read_text())['sequences'] == 1
    assert len(pd.read_csv(out / 'results.csv')) == 2


def _youtubevos(root: Path) -> Path:
    """One video of 4 frames: object 1 from frame 0, object 2 first annotated on frame 2."""
    rng = np.random.default_rng(0)
    lab0 = np.zeros((48, 64), np.uint8)
    lab0[10:30, 5:25] = 1
    lab2 = np.zeros((48, 64), np.uint8)
    lab2[20:40, 35:60] = 2
    for t in range(4):
        frame = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        (root / 'JPEGImages' / 'vid').mkdir(parents=True, exist_ok=True)
        from PIL import Image
        Image.fromarray(frame).save(root / 'JPEGImages' / 'vid' / f'{5 * t:05d}.jpg')
    write_labels(root / 'Annotations' / 'vid' / '00000.png', lab0)
    write_labels(root / 'Annotations' / 'vid' / '00010.png', lab2)
    return root


def test_youtubevos_object_appearing_later_joins_with_its_given_mask(setup, tmp_path):
    root = _youtubevos(tmp_path / 'yv')
    data = open_dataset('youtubevos', root)
    seq = next(iter(data))
    labels = np.stack(list(propagate_sequence(load_network('propagation', setup['propagation']), seq)))
    assert np.array_equal(labels[0] == 1, seq.labels(0) == 1) and not (labels[:2] == 2).any()
    assert np.array_equal(labels[2] == 2, seq.labels(2) == 2)
    summary = main(['--prop_model', str(setup['propagation']), '--davis', str(root), '--dataset', 'youtubevos',
                    '--output', str(tmp_path / 'out')])
    names = zipfile.ZipFile(summary['submission']).namelist()
    assert {f'Annotations/vid/{5 * t:05d}.png' for t in range(4)} <= set(names)
    assert 'J&F-Mean' not in summary and not (tmp_path / 'out' / 'results.csv').exists()


def test_bad_input_gets_clear_errors(setup, tmp_path):
    davis = str(setup['davis'])
    with pytest.raises(FileNotFoundError, match='DAVIS root .*nowhere'):
        main(['--prop_model', str(setup['propagation']), '--davis', str(tmp_path / 'nowhere'), '--output', 'x'])
    with pytest.raises(FileNotFoundError, match='checkpoint not found.*missing.pth'):
        main(['--prop_model', str(tmp_path / 'missing.pth'), '--davis', davis, '--output', str(tmp_path / 'o')])
    with pytest.raises(ValueError, match=r"unknown sequences \['bear'\]"):
        main(['--prop_model', str(setup['propagation']), '--davis', davis, '--sequences', 'bear',
              '--output', str(tmp_path / 'o')])
    with pytest.raises(FileNotFoundError, match='prediction .*00000.png is missing'):
        main(['--davis', davis, '--predictions', str(tmp_path / 'empty'), '--output', str(tmp_path / 'o')])
    with pytest.raises(SystemExit):
        main(['--davis', davis, '--output', str(tmp_path / 'o')])  # neither a network nor masks


def test_user_paths_read_frames_and_probabilities_one_frame_at_a_time(setup, tmp_path, monkeypatch):
    """segment_video.py and eval_semi_davis.py keep memory flat in T: the core gets a frame source, not the
    decoded video, and nothing builds the dense [K+1,T,1,H,W] probabilities."""
    def dense(store):
        raise AssertionError('a user path built the probabilities of all frames at once')
    monkeypatch.setattr(ProbStore, 'dense', dense)
    sources = []
    init = InferenceCore.__init__
    monkeypatch.setattr(InferenceCore, '__init__', lambda core, net, fusion_net, images, *a, **kw: (
        sources.append(images), init(core, net, fusion_net, images, *a, **kw))[-1])
    davis, name = setup['davis'], 'synth_val_000'
    segment_video.main(['--video', str(davis / 'JPEGImages' / '480p' / name), '--mask',
                        str(davis / 'Annotations' / '480p' / name / '00000.png'), '--prop-model',
                        str(setup['propagation']), '--output', str(tmp_path / 'segment')])
    summary = main(['--prop-model', str(setup['propagation']), '--davis', str(davis), '--output', str(tmp_path / 'semi')])
    assert len(sources) == 3 and all(isinstance(s, FrameSource) for s in sources)
    assert 0 <= summary['J&F-Mean'] <= 1 and len(list((tmp_path / 'segment').glob('*.png'))) == 5
