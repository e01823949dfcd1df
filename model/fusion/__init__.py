"""Difference-aware fusion network (MiVOS §3.3)."""
from model.fusion.network import FusionNet

__all__ = ['FusionNet']
