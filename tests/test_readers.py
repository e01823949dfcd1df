"""Test-set readers (DAVIS 2016/2017, YouTubeVOS valid, folder + first mask) on small folders made here."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset.davis_reader import DAVISTestDataset
from dataset.folder_reader import folder_sequence
from dataset.synthetic import SyntheticConfig, generate
from dataset.youtubevos_reader import YouTubeVOSTestDataset
from util.palette import DAVIS_PALETTE, write_labels

H, W = 24, 32


def _frame(t: int) -> np.ndarray:
    return np.full((H, W, 3), 20 * t, np.uint8)


def _labels(t: int, objects: int = 2) -> np.ndarray:
    lab = np.zeros((H, W), np.uint8)
    lab[2:10, t:t + 8] = 1
    if objects > 1:
        lab[14:22, 20 - t:28 - t] = 2
    return lab


def _write_video(frames_dir: Path, n: int) -> None:
    frames_dir.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        Image.fromarray(_frame(t)).save(frames_dir / f'{t:05d}.jpg')


def _make_davis(root: Path, lengths: dict[str, int], first_only: bool = False) -> Path:
    for name, n in lengths.items():
        _write_video(root / 'JPEGImages' / '480p' / name, n)
        for t in range(1 if first_only else n):
            write_labels(root / 'Annotations' / '480p' / name / f'{t:05d}.png', _labels(t))
    for year in ('2016', '2017'):
        (root / 'ImageSets' / year).mkdir(parents=True, exist_ok=True)
        (root / 'ImageSets' / year / 'val.txt').write_text('\n'.join(lengths) + '\n')
    return root


@pytest.fixture
def davis(tmp_path) -> Path:
    return _make_davis(tmp_path / 'DAVIS', {'aa': 4, 'bb': 3})


def test_davis_2017_val_reads_frames_labels_palette_and_objects(davis):
    ds = DAVISTestDataset(davis, year=2017, split='val')
    assert len(ds) == 2 and ds.names == ['aa', 'bb']
    seq = ds[0]
    assert seq.name == 'aa' and len(seq) == 4 and seq.num_objects == 2 and seq.object_ids == [1, 2]
    assert seq.annotated_frames == [0, 1, 2, 3] and seq.size == (H, W)
    frame = seq.frame(2)
    assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)
    assert np.array_equal(seq.labels(3), _labels(3))
    assert np.array_equal(seq.palette, DAVIS_PALETTE)
    assert [f.shape for f in seq.frames()] == [(H, W, 3)] * 4


def test_davis_2016_reads_the_same_folders_as_one_binary_object(davis):
    seq = DAVISTestDataset(davis, year=2016, split='val')[0]
    assert seq.num_objects == 1 and np.array_equal(seq.labels(1), (_labels(1) > 0).astype(np.uint8))


def test_davis_test_dev_has_only_the_first_frame_annotated(tmp_path):
    root = _make_davis(tmp_path / 'dev', {'cc': 5}, first_only=True)
    seq = DAVISTestDataset(root)[0]
    assert seq.annotated_frames == [0] and len(seq) == 5
    with pytest.raises(KeyError, match='no annotation'):
        seq.labels(1)


def test_sequences_read_frames_lazily_so_a_corrupt_frame_fails_only_when_read(davis):
    (davis / 'JPEGImages' / '480p' / 'aa' / '00002.jpg').write_bytes(b'not a jpeg')
    seq = DAVISTestDataset(davis)[0]
    seq.frame(1)
    with pytest.raises(ValueError, match='00002.jpg'):
        seq.frame(2)


def test_davis_bad_input_names_the_path(davis, tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        DAVISTestDataset(tmp_path / 'nope')
    with pytest.raises(FileNotFoundError, match='test-dev.txt'):
        DAVISTestDataset(davis, split='test-dev')
    (davis / 'Annotations' / '480p' / 'aa' / '00003.png').unlink()
    with pytest.raises(ValueError, match='3 masks for 4 frames'):
        DAVISTestDataset(davis).sequence('aa')
    for p in (davis / 'JPEGImages' / '480p' / 'bb').iterdir():
        p.unlink()
    with pytest.raises(FileNotFoundError, match='no image files'):
        DAVISTestDataset(davis)


def test_davis_mask_of_another_size_or_in_unknown_rgb_colours_is_refused(davis):
    mask = davis / 'Annotations' / '480p' / 'bb' / '00000.png'
    write_labels(mask, np.zeros((H + 2, W), np.uint8))
    with pytest.raises(ValueError, match='size of their frames'):
        DAVISTestDataset(davis).sequence('bb')
    Image.fromarray(DAVIS_PALETTE[_labels(0)]).save(mask)  # RGB in the DAVIS colours: read as their ids
    assert np.array_equal(DAVISTestDataset(davis).sequence('bb').labels(0), _labels(0))
    Image.fromarray(np.full((H, W, 3), (3, 200, 9), np.uint8)).save(mask)
    with pytest.raises(ValueError, match=r'colours \(3,200,9\) that are not in the DAVIS palette'):
        DAVISTestDataset(davis).sequence('bb')


def test_davis_sequences_shorter_than_needed_are_skipped_with_a_warning(davis, caplog):
    with caplog.at_level(logging.WARNING):
        ds = DAVISTestDataset(davis, min_frames=4)
    assert ds.names == ['aa'] and ds.skipped == ['bb']
    assert 'skipped 1 of 2' in caplog.text


def test_davis_reader_opens_the_generated_synthetic_root(tmp_path):
    cfg = SyntheticConfig(height=48, width=64, static_images=0, vos_videos=0, davis_train=0, davis_val=1,
                          davis_frames=3)
    roots = generate(tmp_path / 'synth', cfg)
    seq = DAVISTestDataset(roots['davis'])[0]
    assert seq.name == 'synth_val_000' and len(seq) == 3 and seq.size == (48, 64) and seq.num_objects >= 1


def _make_youtube(root: Path, meta: dict | None = None) -> Path:
    _write_video(root / 'JPEGImages' / 'v1', 4)
    write_labels(root / 'Annotations' / 'v1' / '00000.png', _labels(0, objects=1))
    write_labels(root / 'Annotations' / 'v1' / '00002.png', np.where(_labels(2) == 2, 2, 0).astype(np.uint8))
    if meta is not None:
        (root / 'meta.json').write_text(json.dumps(meta))
    return root


def test_youtubevos_objects_appear_on_their_first_annotated_frame(tmp_path):
    ds = YouTubeVOSTestDataset(_make_youtube(tmp_path / 'valid'))
    seq = ds[0]
    assert ds.names == ['v1'] and len(seq) == 4 and seq.num_objects == 2
    assert seq.first_appearance == {1: 0, 2: 2} and seq.annotated_frames == [0, 2]
    with pytest.raises(KeyError):
        seq.labels(1)


def test_youtubevos_meta_json_must_agree_with_the_masks(tmp_path):
    meta = {'videos': {'v1': {'objects': {'1': {'frames': ['00000']}, '2': {'frames': ['00002']}}}}}
    assert YouTubeVOSTestDataset(_make_youtube(tmp_path / 'ok', meta))[0].object_ids == [1, 2]
    meta['videos']['v1']['objects']['3'] = {'frames': ['00001']}
    with pytest.raises(ValueError, match=r'objects \[1, 2, 3\]'):
        YouTubeVOSTestDataset(_make_youtube(tmp_path / 'bad', meta))[0]
    (tmp_path / 'broken').mkdir()
    with pytest.raises(ValueError, match='meta'):
        YouTubeVOSTestDataset(_make_youtube(tmp_path / 'broken', meta={'nope': 1}))


def test_youtubevos_bad_input_names_the_path(tmp_path):
    root = _make_youtube(tmp_path / 'valid')
    write_labels(root / 'Annotations' / 'v1' / '00009.png', _labels(0))
    with pytest.raises(ValueError, match='00009.png'):
        YouTubeVOSTestDataset(root)[0]
    with pytest.raises(FileNotFoundError, match='Annotations'):
        YouTubeVOSTestDataset(tmp_path / 'valid' / 'JPEGImages')


def test_youtubevos_short_videos_are_skipped_with_a_count(tmp_path, caplog):
    root = _make_youtube(tmp_path / 'valid')
    _write_video(root / 'JPEGImages' / 'v0', 1)
    write_labels(root / 'Annotations' / 'v0' / '00000.png', _labels(0))
    with caplog.at_level(logging.WARNING):
        ds = YouTubeVOSTestDataset(root, min_frames=2)
    assert ds.names == ['v1'] and ds.skipped == ['v0'] and 'skipped 1 of 2' in caplog.text


def test_folder_of_frames_with_a_palette_or_grayscale_first_mask(tmp_path):
    _write_video(tmp_path / 'frames', 3)
    write_labels(tmp_path / 'first.png', _labels(0))
    seq = folder_sequence(tmp_path / 'frames', tmp_path / 'first.png')
    assert seq.name == 'frames' and len(seq) == 3 and seq.num_objects == 2 and seq.annotated_frames == [0]
    Image.fromarray(((_labels(0) == 1) * 255).astype(np.uint8)).save(tmp_path / 'gray.png')
    seq = folder_sequence(tmp_path / 'frames', tmp_path / 'gray.png')
    assert seq.num_objects == 1 and np.array_equal(seq.labels(0), (_labels(0) == 1).astype(np.uint8))


def test_folder_bad_input_names_the_path(tmp_path):
    _write_video(tmp_path / 'frames', 2)
    write_labels(tmp_path / 'first.png', _labels(0))
    with pytest.raises(FileNotFoundError, match='missing'):
        folder_sequence(tmp_path / 'missing', tmp_path / 'first.png')
    with pytest.raises(FileNotFoundError, match='nomask.png'):
        folder_sequence(tmp_path / 'frames', tmp_path / 'nomask.png')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no image files'):
        folder_sequence(tmp_path / 'empty', tmp_path / 'first.png')
    with pytest.raises(ValueError, match='at least 5'):
        folder_sequence(tmp_path / 'frames', tmp_path / 'first.png', min_frames=5)
    Image.fromarray(np.full((H, W, 3), (3, 200, 9), np.uint8)).save(tmp_path / 'rgb.png')
    with pytest.raises(ValueError, match='rgb.png.*not in the DAVIS palette'):
        folder_sequence(tmp_path / 'frames', tmp_path / 'rgb.png')
    Image.fromarray(np.zeros((H, W + 4), np.uint8)).save(tmp_path / 'wide.png')
    with pytest.raises(ValueError, match='wide.png'):
        folder_sequence(tmp_path / 'frames', tmp_path / 'wide.png')
