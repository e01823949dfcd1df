"""Video I/O: frame folders and mp4 files round-trip; bad inputs give clear errors."""
import numpy as np
import pytest
from PIL import Image

from util.image_io import ImageFolder, VideoFile, open_frames, read_video
from util.video import overlay, write_video


def frames(t=5, h=32, w=48):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.stack([np.roll(base, 2 * i, axis=1) for i in range(t)])


def test_frame_folder_is_read_in_name_order(tmp_path):
    video = frames()
    for i, f in enumerate(video):
        Image.fromarray(f).save(tmp_path / f'{i:05d}.png')
    assert np.array_equal(read_video(tmp_path), video)


def test_mp4_round_trip_keeps_count_size_and_content(tmp_path):
    video = np.repeat(np.repeat(frames(6, 8, 12), 4, axis=1), 4, axis=2)  # smooth blocks survive compression
    write_video(tmp_path / 'clip.mp4', video)
    back = read_video(tmp_path / 'clip.mp4')
    assert back.shape == video.shape
    assert np.abs(back.astype(int) - video.astype(int)).mean() < 20


def test_frame_sources_read_any_frame_on_demand(tmp_path):
    video = np.repeat(np.repeat(frames(6, 8, 12), 4, axis=1), 4, axis=2)
    write_video(tmp_path / 'clip.mp4', (f for f in video))  # frames given one at a time
    for i, f in enumerate(video):
        Image.fromarray(f).save(tmp_path / f'{i:05d}.png')
    decoded = read_video(tmp_path / 'clip.mp4')
    for path, kind, expected in ((tmp_path / 'clip.mp4', VideoFile, decoded), (tmp_path, ImageFolder, video)):
        source = open_frames(path)
        assert isinstance(source, kind) and source.shape == video.shape and len(source) == 6
        assert np.array_equal(source[4], expected[4]) and np.array_equal(source[-1], expected[5])
        assert np.array_equal(source[0], expected[0])  # read again, in any order
        with pytest.raises(IndexError):
            source[6]


def test_bad_videos_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='video not found'):
        read_video(tmp_path / 'missing.mp4')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no image files'):
        read_video(tmp_path / 'empty')
    (tmp_path / 'junk.mp4').write_bytes(b'\x00' * 100)
    with pytest.raises(ValueError, match='cannot read any frame'):
        read_video(tmp_path / 'junk.mp4')
    (tmp_path / 'mixed').mkdir()
    Image.fromarray(frames(1)[0]).save(tmp_path / 'mixed' / 'a.png')
    Image.fromarray(frames(1, 16, 16)[0]).save(tmp_path / 'mixed' / 'b.png')
    with pytest.raises(ValueError, match='different sizes'):
        read_video(tmp_path / 'mixed')
    (tmp_path / 'corrupt').mkdir()
    (tmp_path / 'corrupt' / 'a.jpg').write_bytes(b'not a jpeg')
    with pytest.raises(ValueError, match='cannot read image'):
        read_video(tmp_path / 'corrupt')


def test_overlay_colours_only_object_pixels():
    video, labels = frames(2, 4, 4), np.zeros((2, 4, 4), dtype=np.uint8)
    labels[:, 0, 0] = 1
    out = overlay(video, labels, np.array([[0, 0, 0], [255, 0, 0]], dtype=np.uint8))
    assert np.array_equal(out[:, 1:], video[:, 1:])
    assert out[0, 0, 0, 0] == round(0.5 * video[0, 0, 0, 0] + 127.5)
