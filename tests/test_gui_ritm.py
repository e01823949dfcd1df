"""RITM clicks in the annotation tool (--ritm-model): CiVOS's rounds of clicks per object and frame, through the API,
and the command line that turns them on."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from gui.app import create_app
from gui.editor import Editor
from gui.launch import synthetic_demo
from inference.interaction.civos import CiVOSInteraction, combine_objects
from light_models import ritm_clicks, save_light_checkpoints, save_ritm_checkpoint
from util.palette import write_labels
from util.tensor_util import one_hot, unpad

ROOT = Path(__file__).resolve().parents[1]
T, H, W, K = 6, 64, 96, 2
A, B, C = (True, 50, 20), (False, 41, 85), (True, 20, 70)  # clicks (is_positive, y, x)
ZEROS = torch.zeros(K, H, W)


@pytest.fixture(scope='module')
def ritm() -> CiVOSInteraction:
    torch.set_num_threads(2)
    return ritm_clicks(seed=0)


@pytest.fixture
def editor(ritm, tmp_path):
    return Editor(synthetic_demo('cpu', num_objects=K, frames=T, size=(H, W)).session, tmp_path / 'out', fps=4,
                  ritm=ritm)


@pytest.fixture
def client(editor):
    with TestClient(create_app(editor)) as c:
        c.headers['X-Editor-Token'] = c.post('/api/claim', json={}).json()['token']
        yield c


def click(client, object_id: int, at: tuple[bool, int, int], frame: int = 0, **extra):
    positive, y, x = at
    return client.post('/api/interact', json={'frame': frame, 'tool': 'click', 'object_id': object_id,
                                              'points': [[x, y]], 'positive': positive, **extra})


def scribble(client, object_id: int, points: list[list[int]], frame: int = 0, tool: str = 'scribble', **extra):
    r = client.post('/api/interact', json={'frame': frame, 'tool': tool, 'object_id': object_id, 'points': points,
                                           **extra})
    assert r.status_code == 200, r.text


def ritm_answer(editor: Editor, frame: int, soft: torch.Tensor, object_id: int, clicks: list, previous: torch.Tensor):
    """What the tool must show: RITM's answer to one object's clicks (with that previous mask) in place of the
    object's soft mask among the others' [K, H, W], combined as CiVOS does."""
    soft = soft.clone()
    soft[object_id - 1] = editor.ritm.object_prob(editor.session.frames[frame], clicks, previous)
    return combine_objects(soft[:, None])[:, 0].argmax(0).numpy().astype(np.uint8)


def hard(labels: np.ndarray) -> torch.Tensor:
    """Labels shown [H, W] -> the objects' hard masks [K, H, W]."""
    return one_hot(labels, K)[1:, 0]


def test_state_names_the_click_model(client):
    s = client.get('/api/state').json()
    assert s['click_model'] == 'RITM (NoBRS)' and s['tools'] == ['scribble', 'click', 'free']


def test_a_positive_click_runs_ritm_and_takes_the_area_around_it(client, editor):
    r = click(client, 1, A)
    assert r.status_code == 200 and r.json()['changed'] > 0 and r.json()['pending'] == [0]
    np.testing.assert_array_equal(editor.labels(0), ritm_answer(editor, 0, ZEROS, 1, [A], ZEROS[0]))
    assert (editor.labels(0)[A[1] - 2:A[1] + 3, A[2] - 2:A[2] + 3] == 1).all()
    assert editor.rounds[0, 1].clicks == (A,)


def test_a_second_click_reruns_ritm_on_both_from_the_mask_before_the_round(client, editor):
    click(client, 1, A)
    first = editor.labels(0).copy()
    click(client, 1, B)
    both = ritm_answer(editor, 0, ZEROS, 1, [A, B], ZEROS[0])
    np.testing.assert_array_equal(editor.labels(0), both)
    assert ((first == 1) & (both != 1)).any()  # the negative click took area the first one gave
    # neither the last click alone nor RITM fed its own answer as the previous mask: the round's clicks, as CiVOS
    assert (both != ritm_answer(editor, 0, ZEROS, 1, [B], ZEROS[0])).any()
    assert (both != ritm_answer(editor, 0, hard(first), 1, [A, B], hard(first)[0])).any()
    # another object has its own round: object 1's clicks are not in it, its mask comes from the labels shown
    shown = editor.labels(0).copy()
    click(client, 2, C)
    np.testing.assert_array_equal(editor.labels(0), ritm_answer(editor, 0, hard(shown), 2, [C], hard(shown)[1]))
    assert editor.rounds[0, 1].clicks == (A, B) and editor.rounds[0, 2].clicks == (C,)


def test_another_tool_ends_the_round_of_the_objects_it_changes(client, editor):
    click(client, 1, A)
    y, x = np.argwhere(editor.labels(0) == 0)[0]
    scribble(client, 2, [[int(x), int(y)]], tool='free', brush=1)  # object 2 paints one background pixel
    assert editor.rounds[0, 1].clicks == (A,)  # object 1's mask did not change: its round goes on
    scribble(client, 1, [[60, 10], [90, 10]])
    after = editor.labels(0).copy()
    assert (0, 1) not in editor.rounds
    click(client, 1, C)
    np.testing.assert_array_equal(editor.labels(0), ritm_answer(editor, 0, hard(after), 1, [C], hard(after)[0]))


def test_undo_brings_back_the_labels_and_the_round(client, editor):
    click(client, 1, A)
    one = editor.labels(0).copy()
    click(client, 1, B)
    client.post('/api/undo')
    np.testing.assert_array_equal(editor.labels(0), one)
    assert editor.rounds[0, 1].clicks == (A,)
    scribble(client, 1, [[60, 10], [90, 10]])  # ends the round; undone, the round is back
    client.post('/api/undo')
    client.post('/api/reset', json={'frame': 0})
    assert editor.rounds == {} and not editor.labels(0).any()
    client.post('/api/undo')
    click(client, 1, C)
    np.testing.assert_array_equal(editor.labels(0), ritm_answer(editor, 0, ZEROS, 1, [A, C], ZEROS[0]))


def test_after_propagation_a_click_starts_from_the_propagated_soft_masks(client, editor):
    click(client, 1, A)
    assert client.post('/api/propagate').status_code == 202
    editor.wait(120)
    assert editor.rounds == {} and editor.interacted == [0]
    core = editor.session.core
    soft = unpad(core.prob_frame(2), core.pad)[1:, 0].clone()  # CiVOS's previous masks: the propagation's
    shown = hard(editor.labels(2))
    click(client, 2, C, frame=2)
    want = ritm_answer(editor, 2, soft, 2, [C], soft[1])
    np.testing.assert_array_equal(editor.labels(2), want)
    assert (want != ritm_answer(editor, 2, shown, 2, [C], shown[1])).any()  # not the hard labels shown


def test_on_loaded_masks_a_click_starts_from_them(client, editor, tmp_path):
    labels = np.zeros((T, H, W), np.uint8)
    labels[:, 10:40, 30:70] = 2
    for i, lab in enumerate(labels):
        write_labels(tmp_path / 'masks' / f'{i:05d}.png', lab)
    assert client.post('/api/load', json={'folder': str(tmp_path / 'masks')}).status_code == 200
    click(client, 1, A)
    shown = hard(labels[0])
    np.testing.assert_array_equal(editor.labels(0), ritm_answer(editor, 0, shown, 1, [A], shown[0]))
    assert (editor.labels(0) == 2).any()


def test_bad_clicks_are_refused_and_change_nothing(client, editor):
    r = click(client, 1, C, box=[40, 0, 96, 40])
    assert r.status_code == 400 and 'finish local control' in r.json()['error']
    r = click(client, 1, (True, 10, 96))
    assert r.status_code == 400 and 'outside the 96x64 image' in r.json()['error']
    assert not editor.labels(0).any() and editor.rounds == {} and editor.history == []


def test_command_line_turns_ritm_clicks_on(tmp_path):
    sys.path.insert(0, str(ROOT))
    script = importlib.import_module('scripts.interactive_gui')
    light = save_light_checkpoints(tmp_path / 'light')
    ritm_file = save_ritm_checkpoint(tmp_path / 'coco_lvis_h18s_itermask.pth')
    video = tmp_path / 'frames'
    video.mkdir()
    for i in range(2):
        cv2.imwrite(str(video / f'{i:05d}.jpg'), np.full((32, 48, 3), 40 * i, np.uint8))
    argv = ['--video', str(video), '--prop_model', str(light['propagation']), '--fusion-model', str(light['fusion']),
            '--s2m-model', str(light['s2m'])]
    open_editor = lambda *more: script.open_editor(script.build_parser().parse_args(argv + list(more)))[0]
    assert open_editor().click_model == 'S2M'
    assert open_editor('--ritm_model', str(ritm_file)).click_model == 'RITM (NoBRS)'
    assert open_editor('--ritm-model', str(ritm_file), '--brs-mode', 'f-BRS-B').click_model == 'RITM (f-BRS-B)'

    with pytest.raises(ValueError, match=f'--ritm-model {tmp_path / "none.pth"}: not found'):
        open_editor('--ritm-model', str(tmp_path / 'none.pth'))
    r = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'interactive_gui.py'), '--demo', '--ritm_model',
                        str(light['s2m']), '--port', '0'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith(f'error: --ritm-model {light["s2m"]}: not a RITM click-model file')
    assert len(r.stderr.strip().splitlines()) == 1  # MiVOS weights given as RITM: one line, no traceback
