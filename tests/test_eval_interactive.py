"""eval_interactive_davis.py end to end through the real davisinteractive session on a generated DAVIS root."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaluation.interactive as interactive
from eval_interactive_davis import main
from evaluation.interactive_summary import round_auc
from light_models import save_light_checkpoints, tiny_davis

ROUNDS = 3


@pytest.fixture(scope='module')
def setup(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp('interactive')
    return {'davis': tiny_davis(tmp / 'synth'), **save_light_checkpoints(tmp / 'models')}


def _args(setup: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ['--prop_model', str(setup['propagation']), '--fusion_model', str(setup['fusion']),
            '--s2m_model', str(setup['s2m']), '--davis', str(setup['davis']), '--output', str(out),
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


def test_f3_clicks_every_round_policy_through_the_real_session(setup, tmp_path):
    out = tmp_path / 'clicks'
    summary = main(_args(setup, out, '--interaction', 'clicks', '--click-strategy', 'f3', '--max-clicks', '2',
                         '--policy', 'every-round', '--sequences', 'synth_val_000'))
    assert {'AUC-J&F', 'J&F@60s', 'R-AUC-J&F'} <= set(summary) and summary['samples'] == 1
    timing = pd.read_csv(out / 'timing.csv')
    assert timing['propagated'].all() and timing['clicks'].between(1, 2 * 3).all()
    assert timing['frame'].iloc[0] == 0  # round 1 clicks on the frame of the initial scribble
    assert (out / 'jf_curve.png').is_file()
    settings = json.loads((out / 'settings.json').read_text())
    assert settings['click_strategy'] == 'f3' and settings['max_clicks'] == 2


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


def test_empty_robot_answer_confirms_the_last_annotated_frame_under_the_policy(setup):
    from util.davis_compat import sequence_facts
    from util.video import read_video
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
