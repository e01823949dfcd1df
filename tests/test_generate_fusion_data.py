"""scripts/generate_fusion_data.py: propagations from every reference frame in the documented layout; a killed
generation leaves only complete videos, and FusionDataset skips (and reports) the interrupted one."""
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset.fusion_dataset import FusionDataset
from util.image_io import DatasetError, read_labels
from dataset.synthetic import SyntheticConfig, generate
from scripts import generate_fusion_data
from synthetic_data import write_fusion_tree, write_vos
from train_helpers import save_tiny_propagation


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('fusion_gen')
    roots = generate(tmp / 'data', SyntheticConfig(height=64, width=80, static_images=0, vos_videos=1, vos_frames=7,
                                                   davis_train=1, davis_val=0, davis_frames=7))
    return roots, save_tiny_propagation(tmp / 'prop.pth')


def test_davis_videos_are_propagated_through_all_frames_from_every_reference(data, tmp_path):
    roots, prop = data
    generate_fusion_data.main(['--model', str(prop), '--davis_root', str(roots['davis']), '--output',
                               str(tmp_path / 'run0'), '--separation', '3', '--device', 'cpu'])
    (video,) = (tmp_path / 'run0').iterdir()
    assert sorted(p.name for p in video.iterdir()) == ['00000', '00003', '00006']
    gt_files = sorted((roots['davis'] / 'Annotations' / '480p' / video.name).glob('*.png'))
    for ref in video.iterdir():
        labels = read_labels(gt_files[int(ref.name)])
        for obj in ref.iterdir():
            assert sorted(p.name for p in obj.iterdir()) == [f'{i:05d}.png' for i in range(7)]
            at_ref = np.array(Image.open(obj / f'{ref.name}.png'))
            assert at_ref.dtype == np.uint8 and (labels == int(obj.name)).sum() > 100
            assert (at_ref[labels == int(obj.name)] >= 254).all() and (at_ref[labels != int(obj.name)] == 0).all()


def test_bl30k_references_are_propagated_only_within_the_range(data, tmp_path):
    roots, prop = data
    generate_fusion_data.main(['--model', str(prop), '--dataset', 'BL', '--bl_root', str(roots['vos']),
                               '--output', str(tmp_path / 'bl'), '--separation', '4', '--range', '2',
                               '--device', 'cpu'])
    (video,) = (tmp_path / 'bl').iterdir()
    frames = {ref.name: sorted(p.name for obj in ref.iterdir() for p in obj.iterdir()) for ref in video.iterdir()}
    assert set(frames['00000']) == {'00000.png', '00001.png', '00002.png'}
    assert set(frames['00004']) == {f'{i:05d}.png' for i in range(2, 7)}


def test_missing_davis_root_fails_with_a_clear_message(data, tmp_path):
    _, prop = data
    with pytest.raises(FileNotFoundError, match='train.txt not found: --davis-root must be the DAVIS 2017 folder'):
        generate_fusion_data.main(['--model', str(prop), '--davis_root', str(tmp_path / 'nope'), '--output',
                                   str(tmp_path / 'out')])


def _kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    """SIGKILL process as soon as ready() holds (polled every few ms); fail if it exits first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f'generation ended before it could be interrupted: {process.stderr.read()}'
        assert time.monotonic() < deadline, 'generation did not reach the interruption point in time'
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_killed_generation_leaves_complete_videos_only_and_the_dataset_skips_the_interrupted_one(tmp_path, caplog):
    roots = generate(tmp_path / 'data', SyntheticConfig(height=64, width=80, static_images=0, vos_videos=0,
                                                        davis_train=3, davis_val=0, davis_frames=8))
    prop = save_tiny_propagation(tmp_path / 'prop.pth')
    run = tmp_path / 'fusion' / 'run0'
    cmd = [sys.executable, str(Path(generate_fusion_data.__file__)), '--model', str(prop), '--davis_root',
           str(roots['davis']), '--output', str(run), '--separation', '4', '--device', 'cpu']
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, OMP_NUM_THREADS='1'))

    def one_done_one_started() -> bool:
        names = [p.name for p in run.iterdir()] if run.is_dir() else []
        return any(not n.startswith('.') for n in names) and any(n.endswith('.partial') for n in names)

    _kill_when(process, one_done_one_started)
    complete = sorted(p.name for p in run.iterdir() if not p.name.startswith('.'))
    (partial,) = [p.name for p in run.iterdir() if p.name.startswith('.')]
    assert 1 <= len(complete) < 3 and partial == f'.{partial[1:-len(".partial")]}.partial'
    for video in complete:  # every written video holds all its references, every object through all 8 frames
        assert sorted(p.name for p in (run / video).iterdir()) == ['00000', '00004']
        assert all(len(list(obj.iterdir())) == 8 for ref in (run / video).iterdir() for obj in ref.iterdir())

    davis = roots['davis']
    with caplog.at_level(logging.WARNING, logger='dataset.fusion_dataset'):
        ds = FusionDataset(tmp_path / 'fusion', davis / 'JPEGImages' / '480p', davis / 'Annotations' / '480p', size=48)
    assert ds.videos == complete and len(ds) == 100 * len(complete)
    assert 'skipped 1 incomplete video folder(s)' in caplog.text and f'run0/{partial}' in caplog.text

    generate_fusion_data.main(cmd[2:])  # running again completes the data and removes the leftover
    train = (davis / 'ImageSets' / '2017' / 'train.txt').read_text().split()
    assert sorted(p.name for p in run.iterdir()) == sorted(train)


def test_a_run_holding_only_an_interrupted_video_is_refused_with_the_reason(tmp_path):
    im_root, gt_root = write_vos(tmp_path, {'vid': 6}, h=48, w=64)
    labels = np.stack([read_labels(p) for p in sorted((gt_root / 'vid').iterdir())])
    write_fusion_tree(tmp_path / 'fusion', labels, {0: 2, 4: 8}, video='.vid.partial')
    with pytest.raises(DatasetError, match=r'skipped 1 incomplete video folder\(s\) .*run0/\.vid\.partial.*run it '
                                           'again'):
        FusionDataset(tmp_path / 'fusion', im_root, gt_root, size=32)
