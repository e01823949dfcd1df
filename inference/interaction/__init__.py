"""Interaction-to-mask at test time: scribbles (DAVIS / GUI), clicks, free-hand masks and local control.

Every interaction maps (normalised image [1,3,H,W], current labels) to a K+1-channel mask [K+1,1,H,W]
(background first) through `Interaction.apply(image, labels, num_objects)`.
"""
from inference.interaction.base import Interaction, MapInteraction, object_maps, segment_objects
from inference.interaction.canvas import CanvasView
from inference.interaction.clicks import Click, ClickInteraction
from inference.interaction.freehand import FreehandInteraction
from inference.interaction.local import LocalInteraction
from inference.interaction.scribbles import ScribbleInteraction, annotated_frame, rasterize_scribbles, \
    scribbles_to_mask
from inference.interaction.strokes import PixelStroke, StrokeInteraction

__all__ = ['Interaction', 'MapInteraction', 'object_maps', 'segment_objects', 'CanvasView', 'Click',
           'ClickInteraction', 'FreehandInteraction', 'LocalInteraction', 'ScribbleInteraction', 'annotated_frame',
           'rasterize_scribbles', 'scribbles_to_mask', 'PixelStroke', 'StrokeInteraction']
