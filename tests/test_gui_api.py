"""Every endpoint of the annotation tool's API on a generated clip with untrained light networks (gui/app.py)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from gui.app import create_app
from gui.editor import Editor
from gui.launch import missing_weights, quickstart_demo, synthetic_demo
from gui.tab_lock import TabLock
from gui_server import serve
from light_models import save_light_checkpoints, tiny_davis
from inference.interaction import Click, ClickInteraction, LocalInteraction, PixelStroke, StrokeInteraction
from util.image_io import read_labels
from util.palette import write_labels
from util.tensor_util import unpad

T, H, W, K = 6, 64, 96, 2
torch.set_num_threads(2)


@pytest.fixture
def editor(tmp_path):
    return Editor(synthetic_demo('cpu', num_objects=K, frames=T, size=(H, W)).session, tmp_path / 'out', fps=4)


@pytest.fixture
def client(editor):
    with TestClient(create_app(editor, banner='test banner')) as c:
        c.headers['X-Editor-Token'] = c.post('/api/claim', json={}).json()['token']
        yield c


def expected(editor: Editor, interaction, frame: int) -> np.ndarray:
    """What an interaction must give on a frame: the library's own answer on the current labels."""
    core = editor.session.core
    image = unpad(core.frame(frame), core.pad)
    mask = interaction.apply(image, torch.from_numpy(editor.labels(frame).astype(np.int64)), K)
    return mask[:, 0].argmax(0).numpy().astype(np.uint8)


def error(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()['error']


def test_page_and_static_files(client):
    page = client.get('/')
    assert page.status_code == 200 and '/static/app.js' in page.text and 'Ctrl + left drag' in page.text
    for name, kind in (('app.js', 'javascript'), ('style.css', 'css')):
        r = client.get(f'/static/{name}')
        assert r.status_code == 200 and kind in r.headers['content-type']


def test_state(client):
    s = client.get('/api/state').json()
    assert (s['num_frames'], s['height'], s['width'], s['num_objects']) == (T, H, W, K)
    assert s['colours'][1] == [128, 0, 0] and s['banner'] == 'test banner'
    assert s['interacted'] == [] and s['pending'] == [] and s['tools'] == ['scribble', 'click', 'free'] and s['click_model'] == 'S2M'


def test_frame_and_mask_images(client, editor):
    jpeg = cv2.imdecode(np.frombuffer(client.get('/api/frame/2.jpg').content, np.uint8), cv2.IMREAD_COLOR)
    assert jpeg.shape == (H, W, 3)
    assert np.abs(jpeg[..., ::-1].astype(int) - editor.session.frames[2]).mean() < 8  # JPEG of that frame
    png = cv2.imdecode(np.frombuffer(client.get('/api/mask/2.png').content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (H, W, 4) and png[..., 3].max() == 0  # nothing labelled yet: transparent
    assert 'outside the video' in error(client.get('/api/frame/6.jpg'), 400)
    assert 'outside the video' in error(client.get('/api/mask/-1.png'), 400)


def test_free_paint_erase_and_its_mask_png(client, editor):
    stroke = {'frame': 1, 'tool': 'free', 'object_id': 2, 'points': [[10, 20], [60, 20]], 'brush': 5}
    r = client.post('/api/interact', json=stroke)
    assert r.status_code == 200 and r.json()['pending'] == [1] and r.json()['can_undo']
    labels = editor.labels(1)
    assert (labels[18:23, 10:61] == 2).all() and (labels[:15] == 0).all() and r.json()['changed'] == (labels > 0).sum()
    png = cv2.imdecode(np.frombuffer(client.get('/api/mask/1.png').content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert (png[..., 3] > 0).sum() == (labels > 0).sum() and tuple(png[20, 30, 2::-1]) == (0, 128, 0)  # RGB green
    client.post('/api/interact', json={**stroke, 'positive': False, 'points': [[30, 20]], 'brush': 9})
    erased = editor.labels(1)
    assert (erased[20, 28:33] == 0).all() and (erased[20, 10:20] == 2).all()


def test_scribble_and_click_run_s2m(client, editor):
    strokes = [PixelStroke([(20, 30), (40, 35), (60, 30)], 1)]
    want = expected(editor, StrokeInteraction(editor.session.s2m_net, strokes), 0)
    r = client.post('/api/interact', json={'frame': 0, 'tool': 'scribble', 'object_id': 1,
                                           'points': [[20, 30], [40, 35], [60, 30]]})
    assert r.status_code == 200 and r.json()['ms'] > 0
    np.testing.assert_array_equal(editor.labels(0), want)
    want = expected(editor, ClickInteraction(editor.session.s2m_net, [Click(50, 40, 2, positive=False)]), 0)
    r = client.post('/api/interact', json={'frame': 0, 'tool': 'click', 'object_id': 2, 'positive': False,
                                           'points': [[50, 40]]})
    np.testing.assert_array_equal(editor.labels(0), want)
    # a negative scribble labels background, as the original's right button
    want = expected(editor, StrokeInteraction(editor.session.s2m_net, [PixelStroke([(5, 5), (30, 5)], 0)]), 0)
    client.post('/api/interact', json={'frame': 0, 'tool': 'scribble', 'object_id': 1, 'positive': False,
                                       'points': [[5, 5], [30, 5]]})
    np.testing.assert_array_equal(editor.labels(0), want)
    assert client.get('/api/state').json()['pending'] == [0]


def test_local_control_changes_only_the_box(client, editor):
    client.post('/api/interact', json={'frame': 3, 'tool': 'free', 'object_id': 1, 'points': [[0, 32], [95, 32]],
                                       'brush': 30})
    before = editor.labels(3).copy()
    box = (20, 10, 70, 50)
    want = expected(editor, LocalInteraction(StrokeInteraction(editor.session.s2m_net,
                                                               [PixelStroke([(30, 20), (50, 40)], 2)]), box), 3)
    r = client.post('/api/interact', json={'frame': 3, 'tool': 'scribble', 'object_id': 2, 'box': box,
                                           'points': [[30, 20], [50, 40]]})
    assert r.status_code == 200
    after = editor.labels(3)
    np.testing.assert_array_equal(after, want)
    outside = np.ones_like(after, bool)
    outside[10:50, 20:70] = False
    np.testing.assert_array_equal(after[outside], before[outside])
    client.post('/api/interact', json={'frame': 3, 'tool': 'free', 'object_id': 2, 'box': box, 'brush': 40,
                                       'points': [[21, 30], [90, 30]]})  # the brush reaches past the box: clipped
    painted = editor.labels(3)
    np.testing.assert_array_equal(painted[outside], before[outside])
    assert (painted[15:45, 25:70] == 2).all()
    msg = error(client.post('/api/interact', json={'frame': 3, 'tool': 'click', 'object_id': 1, 'box': box,
                                                   'points': [[80, 5]]}), 400)
    assert 'outside the local-control box' in msg
    assert 'ROI' in error(client.post('/api/interact', json={'frame': 3, 'tool': 'click', 'object_id': 1,
                                                             'box': [50, 10, 20, 40], 'points': [[30, 20]]}), 400)


def test_bad_input_is_refused_with_a_message_and_changes_nothing(client, editor):
    stroke = {'frame': 0, 'tool': 'scribble', 'object_id': 1, 'points': [[10, 10], [40, 10]]}
    assert 'point (x=120, y=10) is outside the 96x64 image' in error(
        client.post('/api/interact', json={**stroke, 'points': [[10, 10], [120, 10]]}), 400)
    assert 'object_id 3 must be in 1..2' in error(client.post('/api/interact', json={**stroke, 'object_id': 3}), 400)
    assert 'outside the video' in error(client.post('/api/interact', json={**stroke, 'frame': 9}), 400)
    assert 'malformed request: tool' in error(client.post('/api/interact', json={**stroke, 'tool': 'lasso'}), 400)
    assert 'points' in error(client.post('/api/interact', json={**stroke, 'points': []}), 400)
    assert 'nothing to propagate' in error(client.post('/api/propagate'), 400)
    assert 'nothing to undo' in error(client.post('/api/undo'), 400)
    assert (editor.session.labels == 0).all() and editor.history == [] and editor.events.last == 0


def test_undo_and_reset(client, editor):
    client.post('/api/interact', json={'frame': 2, 'tool': 'free', 'object_id': 1, 'points': [[40, 30]], 'brush': 21})
    painted = editor.labels(2).copy()
    client.post('/api/interact', json={'frame': 4, 'tool': 'free', 'object_id': 2, 'points': [[10, 10]], 'brush': 5})
    r = client.post('/api/reset', json={'frame': 2})
    assert r.status_code == 200 and (editor.labels(2) == 0).all() and r.json()['pending'] == [2, 4]
    assert client.post('/api/undo').json()['frame'] == 2  # the reset
    np.testing.assert_array_equal(editor.labels(2), painted)
    r = client.post('/api/undo').json()  # the paint on frame 4
    assert r['frame'] == 4 and r['tool'] == 'free' and (editor.labels(4) == 0).all() and r['pending'] == [2]
    client.post('/api/undo')
    assert (editor.labels(2) == 0).all() and not client.get('/api/state').json()['can_undo']
    assert 'outside the video' in error(client.post('/api/reset', json={'frame': 6}), 400)


def test_propagate_matches_the_session_and_reports_every_frame(client, editor):
    client.post('/api/interact', json={'frame': 2, 'tool': 'free', 'object_id': 1, 'points': [[40, 30]], 'brush': 25})
    first = editor.labels(2).copy()
    r = client.post('/api/propagate')
    assert r.status_code == 202 and r.json()['frames'] == [2]
    editor.wait(120)
    events = editor.events.after(0)
    progress = [e.data for e in events if e.kind == 'progress']
    assert [p['frame'] for p in progress] == [3, 4, 5, 1, 0] and [p['done'] for p in progress] == [1, 2, 3, 4, 5]
    assert all(p['total'] == 5 and p['source'] == 2 for p in progress) and events[-1].kind == 'done'
    s = client.get('/api/state').json()
    assert s['interacted'] == [2] and s['pending'] == [] and not s['propagating'] and not s['can_undo']
    reference = synthetic_demo('cpu', num_objects=K, frames=T, size=(H, W)).session  # same seed: same clip and nets
    np.testing.assert_array_equal(editor.session.labels, reference.set_mask(first, frame=2))
    assert 'propagation cannot be undone' in error(client.post('/api/undo'), 400)


def test_edits_are_refused_while_propagating(client, editor):
    client.post('/api/interact', json={'frame': 0, 'tool': 'free', 'object_id': 1, 'points': [[40, 30]], 'brush': 25})
    editor.propagating = True  # as the worker holds it
    try:
        for path, body in (('/api/interact', {'frame': 1, 'tool': 'free', 'object_id': 1, 'points': [[1, 1]]}),
                           ('/api/undo', {}), ('/api/reset', {'frame': 1}), ('/api/propagate', {}),
                           ('/api/save', {}), ('/api/load', {'folder': '.'})):
            assert 'propagation is running' in error(client.post(path, json=body), 409)
    finally:
        editor.propagating = False
    assert editor.pending == [0] and (editor.labels(1) == 0).all()


def test_save_writes_palette_pngs_and_overlay_atomically(client, editor, tmp_path):
    client.post('/api/interact', json={'frame': 1, 'tool': 'free', 'object_id': 2, 'points': [[40, 30]], 'brush': 15})
    r = client.post('/api/save', json={})
    assert r.status_code == 200
    out = tmp_path / 'out'
    assert r.json()['folder'] == str(out) and sorted(p.name for p in out.iterdir()) == \
        [f'{i:05d}.png' for i in range(T)] + ['overlay.mp4']
    for i in range(T):
        np.testing.assert_array_equal(read_labels(out / f'{i:05d}.png'), editor.labels(i))
    assert cv2.VideoCapture(str(out / 'overlay.mp4')).get(cv2.CAP_PROP_FRAME_COUNT) == T
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)  # not mkdtemp's private mode

    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    assert 'a_file is a file, not a folder' in error(client.post('/api/save', json={'folder': str(blocker / 'sub')}),
                                                     400)
    assert 'is a file' in error(client.post('/api/save', json={'folder': str(blocker)}), 400)
    (tmp_path / 'locked').mkdir()
    (tmp_path / 'locked').chmod(0o500)
    if not os.access(tmp_path / 'locked', os.W_OK):  # root writes anywhere: then only the file case above applies
        assert 'choose a writable folder' in error(client.post('/api/save',
                                                               json={'folder': str(tmp_path / 'locked' / 'o')}), 400)
    (tmp_path / 'locked').chmod(0o700)
    (tmp_path / 'locked').rmdir()
    (tmp_path / 'home').mkdir()
    (tmp_path / 'home' / 'notes.txt').write_text('mine')
    assert 'other files than an earlier save' in error(client.post('/api/save',
                                                                   json={'folder': str(tmp_path / 'home')}), 400)

    client.post('/api/reset', json={'frame': 1})
    editor.session.save_overlay = lambda *a, **k: (_ for _ in ()).throw(RuntimeError('OpenCV cannot write'))
    assert 'previous save there is kept' in error(client.post('/api/save', json={}), 400)
    assert (read_labels(out / '00001.png') == 2).any() and (out / 'overlay.mp4').is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a_file', 'home', 'out']  # no temporary folder left


def test_load_masks(client, editor, tmp_path):
    folder = tmp_path / 'masks'
    labels = np.zeros((T, H, W), np.uint8)
    labels[:, 10:30, 20:50] = 1
    labels[3, 40:60, 60:90] = 2
    for i, lab in enumerate(labels):
        write_labels(folder / f'{i:05d}.png', lab)
    r = client.post('/api/load', json={'folder': str(folder)})
    assert r.status_code == 200 and r.json()['loaded'] == T
    np.testing.assert_array_equal(editor.session.labels, labels)
    assert 'mask folder not found' in error(client.post('/api/load', json={'folder': str(tmp_path / 'nope')}), 400)
    assert 'give the folder' in error(client.post('/api/load', json={}), 400)
    write_labels(folder / '00003.png', np.full((H, W), 3, np.uint8))
    assert '--num-objects 3' in error(client.post('/api/load', json={'folder': str(folder)}), 400)
    os.remove(folder / '00005.png')
    assert '5 PNG masks but the video has 6 frames' in error(client.post('/api/load', json={'folder': str(folder)}),
                                                             400)
    client.post('/api/interact', json={'frame': 0, 'tool': 'free', 'object_id': 1, 'points': [[1, 1]]})
    assert 'not propagated' in error(client.post('/api/load', json={'folder': str(folder)}), 400)
    np.testing.assert_array_equal(editor.session.labels[1:], labels[1:])  # nothing changed by the refusals


def test_one_editing_tab_at_a_time(editor):
    with TestClient(create_app(editor, lock=TabLock(ttl=60))) as c:
        first = c.post('/api/claim', json={}).json()['token']
        assert 'already being edited in another browser tab' in error(c.post('/api/claim', json={}), 409)
        stroke = {'frame': 0, 'tool': 'free', 'object_id': 1, 'points': [[5, 5]]}
        assert 'does not hold the editing session' in error(c.post('/api/interact', json=stroke), 409)
        second = c.post('/api/claim', json={'force': True}).json()['token']
        assert 'took over editing' in error(c.post('/api/interact', json=stroke,
                                                   headers={'X-Editor-Token': first}), 409)
        assert c.post('/api/interact', json=stroke, headers={'X-Editor-Token': second}).status_code == 200
        assert c.get('/api/state').status_code == 200  # reading stays open to every tab
    lock = TabLock(ttl=0.05)
    lock.claim()
    time.sleep(0.1)
    lock.claim()  # a closed tab's lease runs out


def test_event_stream_on_the_real_server(editor):
    """Progress arrives as server-sent events, one per propagated frame, then 'done'."""
    app = create_app(editor)
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        token = http.post('/api/claim', json={}).json()['token']
        http.headers['X-Editor-Token'] = token
        http.post('/api/interact', json={'frame': 0, 'tool': 'free', 'object_id': 1, 'points': [[40, 30]],
                                         'brush': 25})
        kinds, data = [], []
        with http.stream('GET', '/api/events', params={'token': token}) as stream:
            assert stream.headers['content-type'].startswith('text/event-stream')
            assert http.post('/api/propagate').status_code == 202
            event = None
            for line in stream.iter_lines():
                if line.startswith('event: '):
                    event = line[7:]
                elif line.startswith('data: '):
                    kinds.append(event)
                    data.append(json.loads(line[6:]))
                    if event in ('done', 'failed'):
                        break
    assert kinds == ['progress'] * (T - 1) + ['done']
    assert [d['done'] for d in data[:-1]] == list(range(1, T)) and data[-1]['frames'] == [0]


def test_missing_weights_message(tmp_path):
    present = tmp_path / 'prop.pth'
    present.write_bytes(b'')
    msg = missing_weights({'propagation': str(present), 'fusion': str(tmp_path / 'f.pth'), 's2m': None})
    assert '--fusion-model' in msg and 'train_fusion.py' in msg and '--s2m-model (not given)' in msg
    assert '--prop-model' not in msg and 'saves/' in msg and '--demo' in msg
    assert missing_weights({'propagation': str(present)}) is None


def test_demo_opens_a_finished_quickstart_run(tmp_path):
    """--demo takes the first held-out clip and the last checkpoint of each network of runs/quickstart."""
    assert quickstart_demo(tmp_path, 'cpu') is None  # no quickstart run: the untrained demo is used instead
    tiny_davis(tmp_path / 'data', frames=4)
    light = save_light_checkpoints(tmp_path / 'light')
    for kind, run in (('propagation', 'prop_video'), ('fusion', 'fusion'), ('s2m', 's2m')):
        for it in (5, 30):  # the highest iteration wins, not the last name in sort order
            (tmp_path / 'saves' / f'2026-12-02_{run}').mkdir(parents=True, exist_ok=True)
            shutil.copy(light[kind], tmp_path / 'saves' / f'2026-12-02_{run}' / f'{run}_{it}.pth')
    (tmp_path / 'saves' / '2026-12-02_s2m' / 's2m_5.pth').write_bytes(b'not a checkpoint')
    opened = quickstart_demo(tmp_path, 'cpu')
    assert opened.session.frames.shape == (4, 64, 96, 3) and opened.session.s2m_net is not None
    assert 'synth_val_000' in opened.banner and 'trained for a few CPU minutes' in opened.banner


def test_command_line_names_what_is_missing(tmp_path):
    root = Path(__file__).resolve().parents[1]
    run = lambda *args: subprocess.run([sys.executable, str(root / 'scripts' / 'interactive_gui.py'), *args],
                                       capture_output=True, text=True, timeout=300)
    r = run()
    assert r.returncode == 2 and 'give --video' in r.stderr and '--demo' in r.stderr
    video = tmp_path / 'frames'
    video.mkdir()
    cv2.imwrite(str(video / '00000.jpg'), np.zeros((32, 48, 3), np.uint8))
    r = run('--video', str(video), '--prop_model', str(tmp_path / 'p.pth'), '--port', '0')
    assert r.returncode == 2 and 'missing network weights' in r.stderr and 'train_prop.py' in r.stderr
    assert 'Traceback' not in r.stderr
