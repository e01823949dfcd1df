"""The notebook API and the headless CLI, end to end on generated videos with small checkpoints made here."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inference import Session
from inference.interaction import Click
from model.fusion import FusionNet
from model.propagation import PropagationNetwork
from model.s2m import S2M
from util.image_io import read_labels, read_palette, read_video
from util.palette import DAVIS_PALETTE, write_labels
from util.video import write_video

ROOT = Path(__file__).resolve().parents[1]
PROP_KWARGS = {'arch': 'resnet18', 'key_dim': 16, 'value_dim': 32, 'decoder_dims': [32, 16, 16]}
S2M_KWARGS = {'arch': 'resnet18', 'head_channels': 16}


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Small random networks saved as self-describing checkpoints, as our trainers write them."""
    folder = tmp_path_factory.mktemp('ckpt')
    torch.manual_seed(0)
    for name, net, kwargs in (('prop', PropagationNetwork(**PROP_KWARGS), PROP_KWARGS),
                              ('fusion', FusionNet(), {}), ('s2m', S2M(**S2M_KWARGS), S2M_KWARGS)):
        torch.save({'network': net.state_dict(), 'model_kwargs': kwargs}, folder / f'{name}.pth')
    return {k: folder / f'{k}.pth' for k in ('prop', 'fusion', 's2m')}


def moving_square_video(t=6, h=48, w=64):
    rng = np.random.default_rng(0)
    frames = np.repeat(np.repeat(rng.integers(0, 256, (t, h // 8, w // 8, 3), dtype=np.uint8), 8, 1), 8, 2)
    labels = np.zeros((t, h, w), dtype=np.uint8)
    for i in range(t):
        labels[i, 8:24, 4 + 4 * i:20 + 4 * i] = 1
        labels[i, 30:44, 40:56] = 2
        frames[i][labels[i] == 1] = (250, 20, 20)
    return frames, labels


# ---- notebook API -------------------------------------------------------------------------------------------
def test_readme_notebook_example_runs(checkpoints, tmp_path):
    """The README's notebook snippet, executed as written (paths replaced by generated files)."""
    frames, labels = moving_square_video()
    write_video(tmp_path / 'clip.mp4', frames)
    write_labels(tmp_path / 'first.png', labels[0])
    readme = (ROOT / 'README.md').read_text()
    code = re.search(r'<!-- notebook-example -->\n```python\n(.*?)```', readme, re.S).group(1)
    for name, path in (('clip.mp4', tmp_path / 'clip.mp4'), ('first.png', tmp_path / 'first.png'),
                       ('saves/propagation_model.pth', checkpoints['prop']),
                       ('saves/fusion.pth', checkpoints['fusion']), ('saves/s2m.pth', checkpoints['s2m']),
                       ("'out/masks'", repr(str(tmp_path / 'masks')))):
        code = code.replace(name, str(path))
    namespace = {}
    exec(compile(code, 'README.md', 'exec'), namespace)
    assert namespace['labels'].shape == (6, 48, 64)
    assert len(list((tmp_path / 'masks').glob('*.png'))) == 6


def test_session_set_mask_propagates_and_interactions_refine(checkpoints):
    frames, labels = moving_square_video()
    s = Session.from_checkpoints(frames, 2, checkpoints['prop'], checkpoints['fusion'], checkpoints['s2m'])
    out = s.set_mask(labels[0], frame=0)
    assert out.shape == labels.shape and out.dtype == np.uint8 and np.array_equal(out[0], labels[0])
    out = s.clicks([Click(12, 16, object_id=1), Click(48, 36, object_id=2, positive=False)], frame=5)
    assert s.core.interacted == {0, 5} and s.core.fusion == 'diff-aware'
    assert np.array_equal(s.labels, out)
    shown = s.clicks([Click(12, 16, object_id=2)], frame=3, propagate=False)
    assert s.core.interacted == {0, 5} and np.array_equal(shown[:3], out[:3])


def test_session_refuses_labels_beyond_its_objects_and_interactions_without_s2m(checkpoints):
    frames, labels = moving_square_video()
    s = Session.from_checkpoints(frames, 1, checkpoints['prop'])
    with pytest.raises(ValueError, match=r'labels hold id 2 but the session has objects \[1\]'):
        s.set_mask(labels[0])
    with pytest.raises(ValueError, match='needs an S2M network'):
        s.clicks([Click(1, 1, 1)], frame=0)
    with pytest.raises(IndexError, match='outside the video'):
        s.set_mask(labels[0] > 0, frame=9)


# ---- CLI ----------------------------------------------------------------------------------------------------
def run_cli(*args):
    from scripts import segment_video
    return segment_video.main([str(a) for a in args])


def test_cli_segments_a_generated_mp4_into_palette_pngs_and_an_overlay(checkpoints, tmp_path):
    frames, labels = moving_square_video(t=7)
    write_video(tmp_path / 'clip.mp4', frames)
    palette = DAVIS_PALETTE.copy()
    palette[1] = (10, 200, 30)
    write_labels(tmp_path / 'mask.png', labels[2], palette)
    out = run_cli('--video', tmp_path / 'clip.mp4', '--mask', tmp_path / 'mask.png', '--frame', 2,
                  '--prop_model', checkpoints['prop'], '--fusion_model', checkpoints['fusion'], '--output', tmp_path / 'out')
    pngs = sorted(out.glob('*.png'))
    assert [p.name for p in pngs] == [f'{i:05d}.png' for i in range(7)]
    for p in pngs:
        with Image.open(p) as im:
            assert im.mode == 'P' and im.size == (64, 48)
        assert set(np.unique(read_labels(p))) <= {0, 1, 2}
        assert tuple(read_palette(p)[1]) == (10, 200, 30)
    assert np.array_equal(read_labels(pngs[2]), labels[2])
    assert read_video(out / 'overlay.mp4').shape == frames.shape


def test_cli_runs_on_a_frame_folder_with_davis_scribbles(checkpoints, tmp_path):
    frames, labels = moving_square_video(t=4)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / f'{i:05d}.jpg')
    stroke = {'path': [[0.2, 0.3], [0.25, 0.35]], 'object_id': 1, 'start_time': 0, 'end_time': 1}
    (tmp_path / 's.json').write_text(json.dumps({'scribbles': [[], [stroke], [], []], 'sequence': 'x'}))
    out = run_cli('--video', tmp_path, '--scribbles', tmp_path / 's.json', '--prop_model', checkpoints['prop'],
                  '--s2m_model', checkpoints['s2m'], '--output', tmp_path / 'out')
    assert len(list(out.glob('*.png'))) == 4


@pytest.mark.parametrize('case,match', [
    ('missing_video', 'video not found'), ('junk_video', 'cannot read any frame'),
    ('wrong_size', 'resize the mask'), ('empty_mask', 'has no objects'), ('missing_mask', 'mask not found')])
def test_cli_bad_inputs_fail_with_clear_messages(checkpoints, tmp_path, case, match):
    frames, labels = moving_square_video(t=3)
    write_video(tmp_path / 'clip.mp4', frames)
    (tmp_path / 'junk.mp4').write_bytes(b'\x00' * 64)
    write_labels(tmp_path / 'ok.png', labels[0])
    write_labels(tmp_path / 'small.png', labels[0][:20])
    write_labels(tmp_path / 'empty.png', np.zeros_like(labels[0]))
    video, mask = {'missing_video': ('none.mp4', 'ok.png'), 'junk_video': ('junk.mp4', 'ok.png'),
                   'wrong_size': ('clip.mp4', 'small.png'), 'empty_mask': ('clip.mp4', 'empty.png'),
                   'missing_mask': ('clip.mp4', 'none.png')}[case]
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        run_cli('--video', tmp_path / video, '--mask', tmp_path / mask, '--prop_model', checkpoints['prop'],
                '--output', tmp_path / 'out')


def test_cli_keeps_object_ids_such_as_2_and_7_and_never_invents_others(checkpoints, tmp_path):
    frames, labels = moving_square_video(t=3)
    write_video(tmp_path / 'clip.mp4', frames)
    given = np.choose(labels[0], [0, 2, 7]).astype(np.uint8)
    given[:4, :4] = 255  # void
    write_labels(tmp_path / 'mask.png', given)
    out = run_cli('--video', tmp_path / 'clip.mp4', '--mask', tmp_path / 'mask.png', '--prop_model', checkpoints['prop'],
                  '--output', tmp_path / 'out')
    written = np.stack([read_labels(p) for p in sorted(out.glob('*.png'))])
    assert set(np.unique(written).tolist()) == {0, 2, 7}
    assert np.array_equal(written[0] == 7, labels[0] == 2) and np.array_equal(written[0] == 2, labels[0] == 1)


def test_cli_checks_the_output_folder_before_any_work(checkpoints, tmp_path, monkeypatch):
    frames, labels = moving_square_video(t=3)
    write_video(tmp_path / 'clip.mp4', frames)
    write_labels(tmp_path / 'mask.png', labels[0])
    (tmp_path / 'file').write_text('not a folder')
    monkeypatch.setattr(Session, 'from_checkpoints', lambda *a, **k: pytest.fail('work started'))
    with pytest.raises(OSError, match='cannot write to the --output folder .*file/out.*choose a writable folder'):
        run_cli('--video', tmp_path / 'clip.mp4', '--mask', tmp_path / 'mask.png', '--prop_model', checkpoints['prop'],
                '--output', tmp_path / 'file' / 'out')


@pytest.mark.parametrize('content,match', [
    ([[]], 'must hold a JSON object {"scribbles"'),
    ({'scribbles': [[{'path': [[0.1, 0.1]], 'object_id': 'one'}], [], []]}, "object_id 'one'; object ids must be whole"),
    ({'scribbles': [[{'path': [[0.1, 0.1]], 'object_id': 1.5}], [], []]}, 'object_id 1.5'),
    ({'scribbles': [[{'path': [[0.1, 0.1]], 'object_id': 0}], [], []]}, 'has no object strokes'),
    ({'scribbles': [[], []]}, 'has 2 frame lists but the video has 3'),
])
def test_cli_bad_scribble_files_are_usage_errors(checkpoints, tmp_path, content, match):
    frames, _ = moving_square_video(t=3)
    write_video(tmp_path / 'clip.mp4', frames)
    (tmp_path / 's.json').write_text(json.dumps(content))
    with pytest.raises(ValueError, match=re.escape(match)):
        run_cli('--video', tmp_path / 'clip.mp4', '--scribbles', tmp_path / 's.json', '--prop_model',
                checkpoints['prop'], '--s2m_model', checkpoints['s2m'], '--output', tmp_path / 'out')
