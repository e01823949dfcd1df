"""Issue 18: one mask-reading rule, atomic writes (full disk, unique temporary names), and one clean error line
per expected failure of every entry point."""
import errno
import json
import os
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import util.files
from util.image_io import DatasetError, read_binary_mask, read_labels
from dataset.static_dataset import StaticPseudoVideoDataset
from train.checkpoint import save_atomic
from util.cli import UsageError, resolve_device, run_main
from util.files import OutputError, atomic_write_text, require_writable_dir
from util.palette import DAVIS_PALETTE, write_labels

ROOT = Path(__file__).resolve().parents[1]
OBJ = (slice(4, 12), slice(6, 18))  # the object of the test masks


def _ids() -> np.ndarray:
    lab = np.zeros((16, 24), np.uint8)
    lab[OBJ] = 1
    lab[0:3, 0:3] = 2
    return lab


def _save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode).save(path) if mode is None else Image.fromarray(array).convert(mode).save(path)
    return path


MASK_FORMATS = {  # file content -> the ids it stands for
    'palette': (lambda d: write_labels(d / 'm.png', _ids()), _ids()),
    'L ids 0/1/2': (lambda d: _save(d / 'm.png', _ids()), _ids()),
    'L 0/255': (lambda d: _save(d / 'm.png', (_ids() == 1).astype(np.uint8) * 255), (_ids() == 1).astype(np.uint8)),
    'L 0/255 soft edges': (lambda d: _save(d / 'm.png', np.where(_ids() == 1, 250, 0).astype(np.uint8)
                                           + np.pad(np.full((8, 1), 100, np.uint8), ((4, 4), (18, 5)))),
                           (_ids() == 1).astype(np.uint8)),
    'mode 1': (lambda d: Image.fromarray(_ids() == 1).save(d / 'm.png') or d / 'm.png', (_ids() == 1).astype(np.uint8)),
    'RGB DAVIS colours': (lambda d: _save(d / 'm.png', DAVIS_PALETTE[_ids()]), _ids()),
    'RGB grey 0/255': (lambda d: _save(d / 'm.png', np.repeat((_ids() == 1)[..., None] * 255, 3, 2).astype(np.uint8)),
                       (_ids() == 1).astype(np.uint8)),
}


@pytest.mark.parametrize('fmt', MASK_FORMATS)
def test_every_mask_format_is_read_by_one_rule(tmp_path, fmt):
    make, ids = MASK_FORMATS[fmt]
    path = make(tmp_path)
    assert np.array_equal(read_labels(path), ids)
    assert np.array_equal(read_labels(path), ids)
    assert np.array_equal(read_binary_mask(path), ids > 0)


def test_static_training_targets_from_palette_and_01_masks_are_not_empty(tmp_path):
    """The original reader converted masks by luminance and thresholded at 127: these read as empty."""
    rng = np.random.default_rng(0)
    for i, write in enumerate((lambda p: write_labels(p, (_ids() == 1).astype(np.uint8)),
                               lambda p: _save(p, (_ids() == 1).astype(np.uint8)))):
        Image.fromarray(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8)).save(tmp_path / f'im{i}.jpg')
        write(tmp_path / f'im{i}.png')
    ds = StaticPseudoVideoDataset(tmp_path, size=16, seed=0)
    for i in range(2):
        assert ds[i]['gt'].sum() > 0


def test_a_static_mask_without_object_and_unknown_rgb_colours_are_errors(tmp_path):
    _save(tmp_path / 'empty.png', np.zeros((8, 8), np.uint8))
    with pytest.raises(DatasetError, match='empty.png has no object pixels'):
        read_binary_mask(tmp_path / 'empty.png')
    _save(tmp_path / 'rgb.png', np.full((8, 8, 3), (5, 6, 7), np.uint8))
    with pytest.raises(DatasetError, match=r'colours \(5,6,7\) that are not in the DAVIS palette'):
        read_labels(tmp_path / 'rgb.png')


# ---- atomic writes ------------------------------------------------------------------------------------------
class _FullDisk:
    """A real file whose writes fail with ENOSPC once `room` bytes are written (fault injection)."""

    def __init__(self, path, mode, room: int = 4096):
        self.f, self.room = open(path, mode), room

    def write(self, data) -> int:
        if len(data) > self.room:
            self.f.write(bytes(data)[:self.room])
            raise OSError(errno.ENOSPC, 'No space left on device')
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_disk_full_while_saving_a_checkpoint_keeps_the_previous_one_and_says_so(tmp_path, monkeypatch):
    path = tmp_path / 'run' / 'x_checkpoint.pth'
    save_atomic({'it': 1, 'w': torch.ones(3)}, path)
    monkeypatch.setattr(util.files, 'open', _FullDisk, raising=False)
    with pytest.raises(OutputError, match=f'no space left on {tmp_path / "run"} while writing x_checkpoint.pth'):
        save_atomic({'it': 2, 'w': torch.zeros(100_000)}, path)
    assert os.listdir(path.parent) == ['x_checkpoint.pth']  # the temporary file is gone
    assert torch.load(path, weights_only=True)['it'] == 1


def test_temporary_names_are_unique_per_writer_and_never_left_behind(tmp_path, monkeypatch):
    names = []
    real = util.files.os.replace
    monkeypatch.setattr(util.files.os, 'replace', lambda a, b: names.append(Path(a).name) or real(a, b))
    for _ in range(2):
        atomic_write_text(tmp_path / 'a.json', '{}')
    assert len(set(names)) == 2 and all(n.startswith('.a.json.') for n in names)
    assert os.listdir(tmp_path) == ['a.json']


@pytest.fixture
def read_only_dir(tmp_path) -> Path:
    """A folder this process cannot write into (root ignores permissions: then sysfs, if it refuses too)."""
    folder = tmp_path / 'ro'
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path('/sys/fs')):
        try:
            require_writable_dir(candidate)
        except OutputError:
            yield candidate
            folder.chmod(0o755)
            return
    folder.chmod(0o755)
    pytest.skip('no read-only folder available to this user')


def test_unwritable_output_folder_is_one_clear_error(read_only_dir):
    with pytest.raises(OutputError, match=f'cannot write to the output folder {read_only_dir}.*choose a writable'):
        require_writable_dir(read_only_dir / 'sub')


# ---- one error path -----------------------------------------------------------------------------------------
def test_run_main_prints_one_line_for_expected_failures_and_keeps_tracebacks_for_bugs(capsys):
    def bad_input(argv):
        raise UsageError('--x 3 is too big; use at most 2')

    with pytest.raises(SystemExit) as e:
        run_main(bad_input, [])
    assert e.value.code == 2 and capsys.readouterr().err == 'error: --x 3 is too big; use at most 2\n'
    with pytest.raises(SystemExit):
        run_main(lambda argv: open('/nonexistent/file'), [])
    assert capsys.readouterr().err == 'error: No such file or directory: /nonexistent/file\n'
    worker = ValueError('Caught DatasetError in DataLoader worker process 0.\nOriginal Traceback (most recent call '
                        'last):\n  File "x.py", line 1\nutil.image_io.DatasetError: mask m.png has no object pixels')
    with pytest.raises(SystemExit):
        run_main(lambda argv: (_ for _ in ()).throw(worker), [])
    assert capsys.readouterr().err == 'error: mask m.png has no object pixels\n'  # not the worker's traceback
    with pytest.raises(ZeroDivisionError):
        run_main(lambda argv: 1 / 0, [])


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_cuda_device_without_gpu_is_a_usage_error():
    with pytest.raises(UsageError, match='CUDA is not available.*--device cpu'):
        resolve_device('cuda')
    with pytest.raises(UsageError, match='not a device name'):
        resolve_device('gpu0')
    assert resolve_device('cpu') == torch.device('cpu')


ENTRY_POINTS = ['train_prop.py', 'train_s2m.py', 'train_fusion.py', 'eval_semi_davis.py', 'eval_interactive_davis.py',
                'scripts/segment_video.py', 'scripts/make_synthetic.py', 'scripts/benchmark.py', 'scripts/quickstart.py']


@pytest.mark.parametrize('script', ENTRY_POINTS)
def test_every_entry_point_runs_main_through_the_one_error_path(script, monkeypatch):
    """Running the file as a script: an OSError raised inside main becomes `error: ...` and exit status 2."""
    import util.cli

    def failing(main, argv=None):
        return run_main(lambda _: (_ for _ in ()).throw(OSError(errno.EIO, 'probe')), argv)
    monkeypatch.setattr(util.cli, 'run_main', failing)
    monkeypatch.setattr(sys, 'argv', [script, '--help'])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(ROOT / script), run_name='__main__')
    assert e.value.code == 2
