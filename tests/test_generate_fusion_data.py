"""scripts/generate_fusion_data.py: propagations from every reference frame in the documented layout."""
import numpy as np
import pytest
from PIL import Image

from dataset.image_io import read_label_mask
from dataset.synthetic import SyntheticConfig, generate
from scripts import generate_fusion_data
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
        labels = read_label_mask(gt_files[int(ref.name)])
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
    with pytest.raises(SystemExit, match='train.txt not found: --davis-root must be the DAVIS 2017 folder'):
        generate_fusion_data.main(['--model', str(prop), '--davis_root', str(tmp_path / 'nope'), '--output',
                                   str(tmp_path / 'out')])
