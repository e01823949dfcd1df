"""Test-time state and procedures: the inference core and its backend interface, and the notebook session (the
accelerated backend is the `accel` package, the DAVIS robot adapter `evaluation.davis`)."""
from inference.backend import Backend, ReferenceBackend
from inference.core import InferenceCore
from inference.session import Session

__all__ = ['Backend', 'InferenceCore', 'ReferenceBackend', 'Session']
