"""The id-swap check: a DAVIS root with objects 1 and 2 exchanged, and the scores of propagating on both roots."""
import numpy as np
import pytest

from dataset.davis_reader import DAVISTestDataset
from dataset.synthetic import SyntheticConfig, generate
from evaluation.id_swap import id_swap_scores, swap_labels, write_swapped_root
from light_models import save_light_checkpoints
from util.weights import load_network


def test_swap_labels_exchanges_two_ids_and_keeps_the_rest():
    labels = np.array([[0, 1, 2, 3, 255]], np.uint8)
    assert swap_labels(labels).tolist() == [[0, 2, 1, 3, 255]]


def test_swapped_root_holds_the_two_object_sequences_with_exchanged_ids(tmp_path):
    davis = generate(tmp_path / 'd', SyntheticConfig(height=64, width=96, static_images=0, vos_videos=0,
                                                     davis_train=0, davis_val=4, davis_frames=4, max_objects=2))['davis']
    original = {s.name: s for s in DAVISTestDataset(davis)}
    names = write_swapped_root(davis, tmp_path / 'swapped')
    assert names == [n for n, s in original.items() if s.num_objects >= 2] and names
    for seq in DAVISTestDataset(tmp_path / 'swapped'):
        for t in range(len(seq)):
            assert np.array_equal(seq.labels(t), swap_labels(original[seq.name].labels(t)))
        assert np.array_equal(seq.frame(0), original[seq.name].frame(0))
    scores = id_swap_scores(load_network('propagation', save_light_checkpoints(tmp_path / 'm')['propagation']),
                            davis, tmp_path / 'work')
    assert scores['sequences'] == len(names) and 0 <= scores['J&F swapped'] <= 1 and scores['ratio'] >= 0


def test_a_root_without_two_object_sequences_is_refused(tmp_path):
    davis = generate(tmp_path / 'd', SyntheticConfig(height=64, width=96, static_images=0, vos_videos=0,
                                                     davis_train=0, davis_val=1, davis_frames=3, max_objects=1))['davis']
    with pytest.raises(ValueError, match='two objects'):
        write_swapped_root(davis, tmp_path / 'swapped')
