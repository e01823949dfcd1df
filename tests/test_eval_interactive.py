"""eval_interactive_davis.py end to end through the real davisinteractive session on a generated DAVIS root."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import evaluation.interactive as interactive
from eval_interactive_davis import main
from evaluation.interactive_summary import round_auc
from inference.core import InferenceCore
from light_models import save_light_checkpoints, save_ritm_checkpoint, tiny_davis
from util.weights import CheckpointError, file_digest

ROUNDS = 3


@pytest.fixture(scope='module')
def setup(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp('interactive')
    return {'davis': tiny_davis(tmp / 'synth'), **save_light_checkpoints(tmp / 'models'),
            'ritm': save_ritm_checkpoint(tmp / 'models' / 'coco_lvis_h18s_itermask.pth')}


def _args(setup: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ['--prop_model', str(setup['propagation']), '--fusion_model', str(setup['fusion']),
            '--s2m_model', str(setup['s2m']), '--ritm_model', str(setup['ritm']), '--davis', str(setup['davis']),
            '--output', str(out),
            '--max-interactions', str(ROUNDS), '--device', 'cpu', *extra]


def _snapshot(out: Path) -> dict[str, float]:
    files = [*(out / 'samples').glob('*.json'), *(out / 'session_reports').glob('*')]
    return {p.name: p.stat().st_mtime_ns for p in files}


def test_interrupted_scribble_run_resumes_and_a_finished_run_does_nothing_new(setup, tmp_path, monkeypatch):
    out = tmp_path / 'scribbles'
    step = interactive.SampleRunner.step

    def interrupted_on_second_sequence(self, scribble):
        if scribble['sequence'] == 'synth_val_001':
            raise KeyboardInterrupt
        return step(self, scribble)

    monkeypatch.setattr(interactive.SampleRunner, 'step', interrupted_on_second_sequence)
    with pytest.raises(KeyboardInterrupt):
        main(_args(setup, out, '--save_mask'))
    assert [p.name for p in (out / 'samples').iterdir()] == ['synth_val_000__001.json']  # the finished sample
    assert not (out / 'summary.json').exists()
    monkeypatch.setattr(interactive.SampleRunner, 'step', step)

    summary = main(_args(setup, out, '--save_mask', '--resume'))
    assert sorted(p.name for p in (out / 'samples').iterdir()) == ['synth_val_000__001.json',
                                                                   'synth_val_001__001.json']
    assert {'AUC-J&F', 'J&F@60s', 'R-AUC-J&F'} <= set(json.loads((out / 'summary.json').read_text()))
    assert 0 <= summary['J&F@60s'] <= 1 and len(summary['J&F per round']) == ROUNDS
    assert summary['R-AUC-J&F'] == pytest.approx(round_auc([0, *summary['J&F per round'],
                                                            summary['J&F per round'][-1]]))
    assert (out / 'jf_curve.png').stat().st_size > 10_000

    report = pd.read_csv(out / 'report.csv', index_col=0)
    objects = sum(json.loads(p.read_text())['num_objects'] for p in (out / 'samples').iterdir())
    assert len(report) == ROUNDS * 5 * objects  # rounds x frames x objects
    per_seq = pd.read_csv(out / 'per_sequence.csv')
    assert len(per_seq) == 2 * ROUNDS and set(per_seq.columns) >= {'sequence', 'round', 'J', 'F', 'J&F'}
    timing = pd.read_csv(out / 'timing.csv')
    assert list(timing['propagated']) == [False, False, True] * 2  # the 3-frame schedule: third round propagates
    assert (timing['interaction_s'] > 0).all()
    assert len(list((out / 'masks' / 'synth_val_001' / '001' / f'{ROUNDS:02d}').glob('*.png'))) == 5

    before = _snapshot(out)
    again = main(_args(setup, out, '--save_mask', '--resume'))
    assert _snapshot(out) == before  # no sample recomputed, no new session
    assert again['J&F per round'] == summary['J&F per round'] and again['AUC-J&F'] == summary['AUC-J&F']


def test_resume_refuses_a_run_whose_weights_file_was_replaced(setup, tmp_path, monkeypatch):
    """Models are identified by content: the same path with other weights is another model."""
    models = save_light_checkpoints(tmp_path / 'models')
    args = _args({**setup, **models}, tmp_path / 'run', '--sequences', 'synth_val_000')
    monkeypatch.setattr(interactive.SampleRunner, 'step', lambda self, scribble: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        main(args)
    save_light_checkpoints(tmp_path / 'models', seed=1)  # retrained weights written over the same files
    with pytest.raises(ValueError, match="settings different .*models: .*'prop': 'sha256:"):
        main(args + ['--resume'])


def test_f3_clicks_by_s2m_every_round_policy_through_the_real_session(setup, tmp_path):
    out = tmp_path / 'clicks'
    summary = main(_args(setup, out, '--interaction', 'clicks', '--click-strategy', 'f3', '--max-clicks', '2',
                         '--min-click-area', '0', '--policy', 'every-round', '--sequences', 'synth_val_000'))
    assert {'AUC-J&F', 'J&F@60s', 'R-AUC-J&F'} <= set(summary) and summary['samples'] == 1
    timing = pd.read_csv(out / 'timing.csv')
    assert timing['propagated'].all() and timing['clicks'].between(1, 2 * 2 * 2).all()  # objects x (pos, neg) x 2
    assert timing['frame'].iloc[0] == 0  # round 1 clicks on the frame of the initial scribble
    assert (out / 'jf_curve.png').is_file()
    settings = json.loads((out / 'settings.json').read_text())
    assert (settings['click_model'], settings['click_strategy'], settings['max_clicks'], settings['min_click_area']) \
        == ('s2m', 'f3', 2, 0)


def test_civos_protocol_with_ritm_end_to_end_through_the_real_session(setup, tmp_path):
    out = tmp_path / 'civos'
    absent = str(tmp_path / 'absent.pth')  # S2M is not part of CiVOS: never read
    summary = main(_args(setup, out, '--interaction', 'clicks', '--click-model', 'ritm', '--s2m_model', absent,
                         '--sequences', 'synth_val_000', '--max-interactions', '2', '--max-time', '600'))
    # f-BRS at RITM's 400-px zoom: 2 rounds, and davisinteractive's largest time budget so that no round is dropped
    stored = json.loads((out / 'summary.json').read_text())
    assert {'AUC-J&F', 'J&F@60s', 'R-AUC-J&F'} <= set(stored) and 0 <= stored['R-AUC-J&F'] <= 1
    assert {k: stored['settings'][k] for k in CIVOS_SETTINGS} == CIVOS_SETTINGS
    models = stored['settings']['models']
    assert 's2m' not in models and models['ritm'] == file_digest(setup['ritm'])  # identified by content
    timing = pd.read_csv(out / 'timing.csv')
    assert timing['frame'].iloc[0] == 0 and timing['clicks'].iloc[0] >= 2  # round 1: a click per object at least
    assert (timing['propagated'] == (timing['clicks'] > 0)).all()  # every round with clicks propagates
    report = pd.read_csv(out / 'report.csv', index_col=0)
    assert len(report) == 2 * 5 * 2 and summary['J&F per round'] == stored['J&F per round']


CIVOS_SETTINGS = {'interaction': 'clicks', 'click_model': 'ritm', 'policy': 'every-round', 'click_strategy': 'f2',
                  'max_clicks': 3, 'min_click_area': 100, 'brs_mode': 'f-BRS-B', 'prob_thresh': 0.5, 'top_k': True}


def test_a_round_without_clicks_submits_the_masks_unchanged(setup, tmp_path):
    out = tmp_path / 'no_clicks'
    main(_args(setup, out, '--interaction', 'clicks', '--click-model', 'ritm', '--brs-mode', 'NoBRS',
               '--click-strategy', 'f3', '--min-click-area', '100000', '--sequences', 'synth_val_000'))
    timing = pd.read_csv(out / 'timing.csv')
    assert timing['clicks'].iloc[0] >= 1 and timing['propagated'].iloc[0]  # first round: no area limit
    assert (timing['clicks'].iloc[1:] == 0).all() and not timing['propagated'].iloc[1:].any()
    report = pd.read_csv(out / 'report.csv', index_col=0)
    per_round = [r.sort_values(['frame', 'object_id'])['j_and_f'].to_numpy() for _, r in report.groupby('interaction')]
    assert all(np.array_equal(per_round[0], later) for later in per_round[1:])


def test_oracle_interaction_with_all_memory_read(setup, tmp_path):
    out = tmp_path / 'oracle'
    summary = main(_args(setup, out, '--interaction', 'oracle', '--no-top-k', '--sequences', 'synth_val_000',
                         '--s2m_model', str(tmp_path / 'absent.pth')))
    assert summary['settings']['interaction'] == 'oracle' and summary['settings']['top_k'] is False
    report = pd.read_csv(out / 'report.csv', index_col=0)
    frame = pd.read_csv(out / 'timing.csv')['frame'].iloc[0]
    first = report[(report['interaction'] == 1) & (report['frame'] == frame)]
    assert (first['j_and_f'] == 1).all()  # the ground truth of the robot's frame is the interaction


def test_no_top_k_reads_every_memory_position(setup):
    settings = interactive.InteractiveSettings(davis=str(setup['davis']), fusion='none', top_k=False)
    paths = {'prop': setup['propagation'], 's2m': setup['s2m']}
    all_memory = interactive.load_networks(settings, paths).prop
    top_k = interactive.load_networks(replace(settings, top_k=True), paths).prop
    assert all_memory.memory.top_k is None and top_k.memory.top_k == 50
    images = np.random.default_rng(0).integers(0, 256, (2, 128, 160, 3), dtype=np.uint8)  # 8x10 = 80 keys a frame
    mask = torch.zeros(2, 1, 128, 160)
    mask[1, 0, 30:90, 40:120] = 1
    mask[0] = 1 - mask[1]
    probs = []
    for prop in (all_memory, top_k):
        core = InferenceCore(prop, None, images, 1, fusion='none', conv_algorithm='direct')  # no conv timing
        core.interact(mask, 0)
        probs.append(core.prob_frame(1))
    assert not torch.allclose(*probs, atol=1e-4)  # frame 1 reads all 80 keys of frame 0, or only 50 of them


def test_bad_input_gets_clear_errors(setup, tmp_path):
    with pytest.raises(FileNotFoundError, match='--davis .*nowhere does not exist'):
        main(_args({**setup, 'davis': tmp_path / 'nowhere'}, tmp_path / 'a'))
    with pytest.raises(FileNotFoundError, match='checkpoint not found.*gone.pth'):
        main(_args({**setup, 's2m': tmp_path / 'gone.pth'}, tmp_path / 'b'))
    with pytest.raises(ValueError, match=r"unknown sequences \['bear'\]"):
        main(_args(setup, tmp_path / 'c', '--sequences', 'bear'))
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / 'settings.json').write_text(json.dumps({'interaction': 'clicks'}))
    with pytest.raises(FileExistsError, match='pass --resume'):
        main(_args(setup, tmp_path / 'd'))
    with pytest.raises(ValueError, match="settings different .*interaction: 'clicks' -> 'scribbles'"):
        main(_args(setup, tmp_path / 'd', '--resume'))
    with pytest.raises(ValueError, match='max_interactions must be in 1..16'):
        main(_args(setup, tmp_path / 'e', '--max-interactions', '0'))
    with pytest.raises(CheckpointError, match='coco_lvis_h18s_itermask.pth: this is a RITM click-model file'):
        main(_args({**setup, 'propagation': setup['ritm']}, tmp_path / 'f'))
    with pytest.raises(CheckpointError, match='s2m.pth: not a RITM click-model file'):
        main(_args({**setup, 'ritm': setup['s2m']}, tmp_path / 'g', '--interaction', 'clicks', '--click-model', 'ritm'))
    with pytest.raises(ValueError, match='min_click_area must be >= 0'):
        main(_args(setup, tmp_path / 'h', '--interaction', 'clicks', '--min-click-area', '-1'))


def test_empty_robot_answer_confirms_the_last_annotated_frame_under_the_policy(setup):
    from evaluation.davis_compat import sequence_facts
    from util.image_io import read_video
    from util.weights import load_network
    name = 'synth_val_000'
    nets = interactive.Networks(*(load_network(k, setup[k]) for k in ('propagation', 'fusion', 's2m')))
    settings = interactive.InteractiveSettings(davis=str(setup['davis']))
    images = read_video(setup['davis'] / 'JPEGImages' / '480p' / name)
    first = json.loads((setup['davis'] / 'Scribbles' / name / '001.json').read_text())
    empty = {'scribbles': [[] for _ in range(len(images))], 'sequence': name}
    k = sequence_facts(setup['davis'], name)['num_objects']

    runner = interactive.SampleRunner(nets, images, k, settings, 'cpu', ground_truth=None)
    labels, hint = runner.step(empty)  # nothing to act on yet: unchanged (empty) masks
    assert not labels.any() and hint is None and runner.rounds[0].frame is None

    runner = interactive.SampleRunner(nets, images, k, settings, 'cpu', ground_truth=None)
    labels1, hint1 = runner.step(first)
    labels2, hint2 = runner.step(empty)
    labels3, hint3 = runner.step(empty)  # third round: the 3-frame schedule propagates the confirmed frame
    assert hint1 == hint2 == [0] and hint3 is None
    assert np.array_equal(labels2[0], labels1[0]) and np.array_equal(labels3[0], labels1[0])
    assert [r.frame for r in runner.rounds] == [0, 0, 0] and runner.rounds[2].propagated
