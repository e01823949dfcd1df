"""S2M (Scribble-to-Mask): DeepLabV3+ turning [image, previous mask, positive, negative] into one object's logits."""
from model.s2m.network import S2M

__all__ = ['S2M']
