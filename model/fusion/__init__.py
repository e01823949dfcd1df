"""Difference-aware fusion network (MiVOS §3.4)."""
from model.fusion.network import FusionNet

__all__ = ['FusionNet']
