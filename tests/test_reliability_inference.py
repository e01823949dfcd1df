"""Inference API robustness: results the caller owns, non-finite inputs, networks built under inference_mode,
and object ids that are neither 1..K nor all present (issue 18)."""
import numpy as np
import pytest
import torch

from accel import AcceleratedBackend
from inference.core import InferenceCore
from inference.session import Session, present_object_ids
from util.tensor_util import one_hot
from util.weights import LIGHT_KWARGS, network_class

torch.set_num_threads(1)


def light(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return network_class(kind)(**LIGHT_KWARGS[kind]).eval()


def clip(t: int = 6, h: int = 48, w: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A moving bright square on noise: uint8 frames [T,H,W,3] and its labels [T,H,W] (id 1)."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 60, (t, h, w, 3), dtype=np.uint8)
    labels = np.zeros((t, h, w), np.uint8)
    for i in range(t):
        labels[i, 10:30, 8 + 3 * i:28 + 3 * i] = 1
    frames[labels == 1] = 220
    return frames, labels


def test_interact_results_are_owned_by_the_caller_and_survive_the_next_interaction():
    frames, labels = clip()
    core = InferenceCore(light('propagation'), light('fusion'), frames, 1)
    first = core.interact(one_hot(torch.from_numpy(labels[0]).long(), 1), 0)
    kept = first.copy()
    core.interact(one_hot(torch.from_numpy(np.zeros_like(labels[5])).long(), 1), 5)
    assert np.array_equal(first, kept)  # the kept result of round 1 did not change under the caller
    shown = core.update_mask_only(one_hot(torch.from_numpy(labels[2]).long(), 1), 2)
    kept = shown.copy()
    core.update_mask_only(one_hot(torch.zeros_like(torch.from_numpy(labels[2])).long(), 1), 2)
    assert np.array_equal(shown, kept)


def test_non_finite_float_images_are_refused():
    frames = torch.rand(4, 3, 32, 32)
    frames[2, 1, 5, 5] = float('nan')
    with pytest.raises(ValueError, match='NaN or inf .*frame 2'):
        InferenceCore(light('propagation'), None, frames, 1, fusion='none')
    frames[2, 1, 5, 5] = float('inf')
    with pytest.raises(ValueError, match='NaN or inf'):
        InferenceCore(light('propagation'), None, frames, 1, fusion='none')


def test_networks_built_or_run_inside_inference_mode_work_outside_it_too():
    frames, labels = clip(t=4)
    mask = one_hot(torch.from_numpy(labels[0]).long(), 1)
    backend = AcceleratedBackend()  # one for all three cores: its prepared network is reused across the boundary
    with torch.inference_mode():  # as notebooks do: built and run inside it first ...
        prop, fusion = light('propagation'), light('fusion')
        inside = InferenceCore(prop, fusion, frames, 1, backend=backend).interact(mask, 0)
    out = InferenceCore(prop, fusion, frames, 1, backend=backend).interact(mask, 0)  # ... then outside it
    assert out.shape == labels.shape and np.array_equal(out, inside)
    normal_prop, normal_fusion = light('propagation'), light('fusion')
    assert np.array_equal(InferenceCore(normal_prop, normal_fusion, frames, 1, backend=backend).interact(mask, 0), out)


def test_session_keeps_the_callers_object_ids_and_ignores_void():
    frames, labels = clip(t=4)
    given = np.where(labels[0] == 1, 7, 0).astype(np.uint8)
    given[:6, :6] = 2  # a second object in the corner
    given[40:, 50:] = 255  # void: not an object
    session = Session(frames, present_object_ids(given), light('propagation'))
    assert session.num_objects == 2
    out = session.set_mask(given, frame=0)
    assert set(np.unique(out).tolist()) <= {0, 2, 7}  # ids never given never appear
    assert np.array_equal(out[0] == 7, given == 7) and (out[0] == 2).sum() == 36
    assert set(np.unique(session.labels).tolist()) <= {0, 2, 7}
    with pytest.raises(ValueError, match='id 3 .*objects \\[2, 7\\]'):
        session.set_mask(np.full_like(given, 3), frame=1)
