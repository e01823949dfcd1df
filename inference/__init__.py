"""Test-time state and procedures: the interactive inference core and interaction adapters."""
from inference.core import InferenceCore

__all__ = ['InferenceCore']
