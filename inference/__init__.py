"""Test-time state and procedures: the inference core, the DAVIS adapter and the notebook session."""
from inference.core import InferenceCore
from inference.davis import DAVISProcessor
from inference.session import Session

__all__ = ['InferenceCore', 'DAVISProcessor', 'Session']
