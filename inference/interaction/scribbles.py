"""DAVIS-format scribbles (davisinteractive JSON) -> S2M maps, exactly as MiVOS's DAVIS evaluation encodes them.

Each stroke {'path': [[x, y], ...] in [0, 1], 'object_id': 0 (background) or 1..K} is scaled by (W-1, H-1),
truncated to int and drawn with 1-px Bresenham lines on a -1 canvas (later strokes overwrite earlier ones);
positive/negative maps per object are then dilated once with a 3x3 kernel (MiVOS §3.2, docs/mivos.md).

Padded-canvas quirk (docs/mivos.md): MiVOS rasterises at the PADDED size although the image sits inside the padding.
`quirk=True` (default) reproduces that; `quirk=False` rasterises at the real size and shifts by the padding.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from inference.interaction.base import MapInteraction, check_object_id
from inference.interaction.canvas import CanvasView
from inference.interaction.raster import NO_STROKE, draw_polyline, label_maps
from util.tensor_util import Pad

DavisStroke = Mapping  # {'path': [[x, y], ...], 'object_id': int, ...}


def annotated_frame(scribble_dict: Mapping) -> int:
    """Index of the first frame with strokes in a davisinteractive scribble dict (MiVOS interacts on that frame)."""
    frames = scribble_dict.get('scribbles') if isinstance(scribble_dict, Mapping) else None
    if not isinstance(frames, Sequence):
        raise ValueError('scribble dict must have a "scribbles" list with one list of strokes per frame')
    for idx, strokes in enumerate(frames):
        if strokes:
            return idx
    raise ValueError(f'scribble dict has no strokes on any of its {len(frames)} frames')


def check_strokes(strokes: Sequence[DavisStroke], num_objects: int) -> list[tuple[np.ndarray, int]]:
    """Validate strokes -> [(path [N, 2] float64 in [0, 1], object_id)]."""
    checked = []
    for i, stroke in enumerate(strokes):
        object_id = stroke.get('object_id')
        check_object_id(object_id, num_objects, f'stroke {i}')
        path = np.asarray(stroke.get('path', []), dtype=np.float64)
        if path.ndim != 2 or path.shape[0] == 0 or path.shape[1] != 2:
            raise ValueError(f'stroke {i}: path must be a non-empty list of [x, y] points, got shape {path.shape}')
        if not np.isfinite(path).all() or path.min() < 0 or path.max() > 1:
            raise ValueError(f'stroke {i}: path coordinates must be normalised to [0, 1], '
                             f'found {path.min():.4g}..{path.max():.4g}')
        checked.append((path, int(object_id)))
    return checked


def rasterize_scribbles(strokes: Sequence[DavisStroke], num_objects: int, view: CanvasView, pad: Pad = (0, 0, 0, 0),
                        quirk: bool = True) -> np.ndarray:
    """Label canvas int64 [*view.canvas_size]: object ids on the strokes, -1 elsewhere (davisinteractive rules).

    With the identity view and quirk=True this equals davisinteractive's `scribbles2mask` at view.image_size.
    """
    left, right, top, bottom = pad
    h, w = view.image_size
    if quirk:  # normalised coordinates refer to the whole (padded) canvas
        ref_w, ref_h, shift = w, h, np.zeros(2)
    else:  # they refer to the real image inside the padding
        ref_w, ref_h, shift = w - left - right, h - top - bottom, np.array([left, top], dtype=np.float64)
    canvas = np.full(view.canvas_size, NO_STROKE, dtype=np.int64)
    for path, object_id in check_strokes(strokes, num_objects):
        pixels = path * np.array([ref_w - 1, ref_h - 1]) + shift  # continuous image (x, y)
        draw_polyline(canvas, view.to_canvas_pixels(pixels), object_id)
    return canvas


class ScribbleInteraction(MapInteraction):
    """Scribbles of one frame in davisinteractive format, resolved by S2M (hard wbg aggregation)."""

    def __init__(self, net: nn.Module, strokes: Sequence[DavisStroke], pad: Pad = (0, 0, 0, 0), quirk: bool = True):
        super().__init__(net)
        self.strokes = list(strokes)
        self.pad = pad
        self.quirk = quirk

    def encode(self, view: CanvasView, num_objects: int) -> tuple[torch.Tensor, torch.Tensor]:
        canvas = rasterize_scribbles(self.strokes, num_objects, view, self.pad, self.quirk)
        return label_maps(canvas, num_objects, NO_STROKE, dilate=True)


def scribbles_to_mask(s2m_net: nn.Module, image: torch.Tensor, labels: torch.Tensor, scribble_dict: Mapping,
                      num_objects: int, pad: Pad = (0, 0, 0, 0), quirk: bool = True,
                      frame: int | None = None) -> torch.Tensor:
    """MiVOS DAVIS `to_mask`: padded image [1,3,Hp,Wp] + current labels + scribble dict -> hard mask [K+1,1,Hp,Wp].

    `frame` defaults to the first annotated frame; `pad` is the (left, right, top, bottom) padding of `image`
    (only used with quirk=False). A frame without strokes leaves the labels unchanged.
    """
    idx = annotated_frame(scribble_dict) if frame is None else frame
    if not 0 <= idx < len(scribble_dict['scribbles']):
        raise ValueError(f'frame {idx} is outside the scribble dict (0..{len(scribble_dict["scribbles"]) - 1})')
    strokes = scribble_dict['scribbles'][idx]
    return ScribbleInteraction(s2m_net, strokes, pad=pad, quirk=quirk).apply(image, labels, num_objects)
