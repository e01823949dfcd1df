"""Top-k space-time memory propagation network (MiVOS §3.2)."""
from model.propagation.network import PropagationNetwork

__all__ = ['PropagationNetwork']
