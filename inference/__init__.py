"""Test-time state and procedures: the interactive inference core and interaction adapters."""
from inference.core import InferenceCore
from inference.davis import DAVISProcessor

__all__ = ['InferenceCore', 'DAVISProcessor']
