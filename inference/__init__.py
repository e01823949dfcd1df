"""Test-time state and procedures: the inference core and its backend interface, the DAVIS adapter, the notebook
session (the accelerated backend is the `accel` package)."""
from inference.backend import Backend, ReferenceBackend
from inference.core import InferenceCore
from inference.davis import DAVISProcessor
from inference.session import Session

__all__ = ['Backend', 'InferenceCore', 'DAVISProcessor', 'ReferenceBackend', 'Session']
