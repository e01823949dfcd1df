"""Acceleration of the MiVOS networks for inference (the algorithm itself is inference.InferenceCore).

AcceleratedBackend prepares transformed networks with the same results as the reference within float rounding:
BatchNorm folding and the split decoder (optimize, split_decoder), Winograd convolutions (winograd, with native
tile transforms built from csrc/ by native), oneDNN primitives with fused epilogues (onednn), and the per-machine
choice between them (timing).
"""
from accel.backend import AcceleratedBackend, AcceleratedNetworks
from accel.timing import ConvTimings

__all__ = ['AcceleratedBackend', 'AcceleratedNetworks', 'ConvTimings']
