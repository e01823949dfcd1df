"""Top-k space-time memory propagation network (MiVOS §3.3)."""
from model.propagation.network import PropagationNetwork

__all__ = ['PropagationNetwork']
