"""A short CPU run of a light trainer on generated synthetic data measurably lowers the loss and raises IoU."""
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train_prop
import train_s2m
from dataset.synthetic import SyntheticConfig, generate
from train_helpers import run_dir
from util.config import CONFIG_DIR


def test_forty_cpu_iterations_of_s2m_on_synthetic_images_learn(tmp_path):
    roots = generate(tmp_path / 'data', SyntheticConfig(height=120, width=160, static_images=12, vos_videos=0,
                                                        davis_train=0, davis_val=0))
    train_s2m.main(['--config', str(CONFIG_DIR / 's2m_cpu.yaml'), '--static_root', str(roots['static']),
                    '-i', '40', '-b', '4', '--lr', '1e-3', '--device', 'cpu', '--save_dir', str(tmp_path / 'saves'),
                    '--set', 'data.crop=64', '--set', 'model.head_channels=16', '--set', 'log.report_interval=5',
                    '--set', 'log.image_interval=20'])
    events = EventAccumulator(str(run_dir(tmp_path / 'saves')))
    events.Reload()
    loss = [e.value for e in events.Scalars('train/loss')]
    iou = [e.value for e in events.Scalars('train/iou')]
    assert len(loss) == 8 and events.Tags()['images'] == ['train/images']
    assert min(loss[-2:]) < 0.75 * loss[0], loss
    assert max(iou[-2:]) > iou[0] + 0.2, iou


def test_the_quickstart_propagation_recipe_learns_on_salient_synthetic_images(tmp_path):
    roots = generate(tmp_path / 'data', SyntheticConfig(height=120, width=216, static_images=16, vos_videos=0,
                                                        davis_train=0, davis_val=0, look='salient'))
    train_prop.main(['--config', str(CONFIG_DIR / 'prop_static_cpu.yaml'), '--static_root', str(roots['static']),
                     '-i', '50', '--device', 'cpu', '--save_dir', str(tmp_path / 'saves'),
                     '--set', 'log.report_interval=10', '--set', 'log.image_interval=50'])
    events = EventAccumulator(str(run_dir(tmp_path / 'saves')))
    events.Reload()
    iou = [e.value for e in events.Scalars('train/iou')]
    assert len(iou) == 5 and max(iou[-2:]) > iou[0] + 0.2, iou  # the recipe's learning rate on the quickstart look
