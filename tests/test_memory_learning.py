"""Training teaches matching through memory (issue 17): a tiny propagation network trained from random weights on
videos whose objects, distractors and background share one appearance distribution, object ids drawn at random per
sample, must segment held-out videos by following the first frame's ids. Swapping objects 1 and 2 in the first-frame
annotation swaps its predictions: J&F against the old truth falls near 0. A network that ignores its memory (or
reads a misaligned mask, a wrong "others" channel, a memory frame from the wrong time) cannot tell the objects
apart and scores the same against both truths, or nothing."""
import torch

import train_prop
from dataset.synthetic import SyntheticConfig, generate
from evaluation.id_swap import id_swap_scores
from scripts.quickstart import final_weights
from util.config import CONFIG_DIR
from util.weights import load_network

ITERATIONS = 500
# The CPU recipe (configs/prop_bl30k_cpu.yaml: tiny network, 96 px crops, plain CE) on its static-frame stage only
# (max skip 0: one frame three times, differing by the per-frame augmentation), on 96 x 96 videos.
STAGE = {'curriculum.max_skip': '[0]', 'curriculum.at': '[]', 'log.save_interval': ITERATIONS,
         'log.image_interval': 10 ** 6}


def test_trained_propagation_follows_the_first_frame_ids(tmp_path):
    torch.set_num_threads(1)  # the data worker has the second core
    look = {'height': 96, 'width': 96, 'min_objects': 2, 'max_objects': 2, 'look': 'shared_large', 'static_images': 0}
    train = generate(tmp_path / 'train', SyntheticConfig(vos_videos=24, vos_frames=6, davis_train=0, davis_val=0,
                                                         motion=0.3, **look))
    davis = generate(tmp_path / 'held_out', SyntheticConfig(seed=5, vos_videos=0, davis_train=0, davis_val=4,
                                                            davis_frames=6, motion=0.2, **look))['davis']
    sets = [arg for key, value in STAGE.items() for arg in ('--set', f'{key}={value}')]
    train_prop.main(['--config', str(CONFIG_DIR / 'prop_bl30k_cpu.yaml'), '--bl-root', str(train['vos']),
                     '-i', str(ITERATIONS), '--steps', str(ITERATIONS), '--id', 'memory', '--device', 'cpu',
                     '--save-dir', str(tmp_path / 'saves'), *sets])
    net = load_network('propagation', final_weights(tmp_path / 'saves', 'memory', ITERATIONS))
    scores = id_swap_scores(net, davis, tmp_path / 'swap')
    assert scores['J&F'] >= 0.25, scores  # it segments the objects (an empty or random output scores about 0)
    assert scores['ratio'] >= 0.8, scores  # swapping the first-frame ids swaps the predictions ...
    assert scores['J&F crossed'] <= 0.3 * scores['J&F'], scores  # ... which follow the ids given, not appearance
