"""Per-frame soft probabilities of InferenceCore, stored densely (the original's fp32) or compactly (bounded memory).

Each frame is written whole by one propagation step and read whole (fusion, the interaction's difference maps),
so the store works frame by frame; only `dense()` builds the original [K+1, T, 1, Hp, Wp] float32 tensor.
"""
from __future__ import annotations

import os
import tempfile
from typing import Literal

import numpy as np
import torch

ProbStorage = Literal['float32', 'uint16', 'disk']
PROB_STORAGES = ('float32', 'uint16', 'disk')
UINT16_SCALE = 65535
UINT16_MAX_ERROR = 0.5 / UINT16_SCALE  # 7.63e-6: rounding to the nearest step of 1/65535


class ProbStore:
    """Probabilities [K+1, T, 1, Hp, Wp] (background first) of every frame.

    storage 'float32': one dense tensor on `device`, the background initialised to 1e-7 (the original's `prob`).
    'uint16': fixed point round(p * 65535) on `device`, |error| <= 7.6e-6 (golden tolerance: 1e-3 / 1e-4), half
    the memory; the 1e-7 background of untouched frames becomes 0 (they still argmax to background).
    'disk': the uint16 frames in an unlinked temporary file (under `spill_dir`, default the system temp folder),
    so that memory does not grow with T at all; frames are read back one at a time.
    """

    def __init__(self, channels: int, t: int, hp: int, wp: int, storage: ProbStorage = 'float32',
                 device: str | torch.device = 'cpu', spill_dir: str | os.PathLike | None = None):
        if storage not in PROB_STORAGES:
            raise ValueError(f'prob storage must be one of {PROB_STORAGES}, got {storage!r}')
        self.shape = (channels, t, 1, hp, wp)
        self.storage, self.device = storage, torch.device(device)
        self._frame_shape = (channels, 1, hp, wp)
        self._file = None
        if storage == 'float32':
            self._data = torch.zeros(self.shape, dtype=torch.float32, device=self.device)
            self._data[0] = 1e-7
        elif storage == 'uint16':
            self._data = torch.zeros((t, *self._frame_shape), dtype=torch.uint16, device=self.device)  # frame-major
        else:
            try:
                self._file = tempfile.TemporaryFile(dir=spill_dir)  # unlinked at once: nothing is left behind
            except OSError as e:
                raise OSError(f'cannot create the probability spill file in {spill_dir or tempfile.gettempdir()} '
                              f"({e}): set TMPDIR to a writable folder, or keep them in memory with "
                              f"prob_storage='uint16'") from e
            self._frame_bytes = channels * hp * wp * 2
            self._file.truncate(t * self._frame_bytes)  # a sparse file of zeros

    @property
    def nbytes(self) -> int:
        """Bytes held in (device) memory."""
        return 0 if self._file is not None else self._data.nelement() * self._data.element_size()

    def __getitem__(self, ti: int) -> torch.Tensor:
        """Frame ti as float32 [K+1, 1, Hp, Wp] on the device (a view for 'float32', a fresh tensor otherwise)."""
        if self.storage == 'float32':
            return self._data[:, ti]
        if self.storage == 'uint16':
            q = self._data[ti]
        else:
            raw = os.pread(self._file.fileno(), self._frame_bytes, ti * self._frame_bytes)
            q = torch.from_numpy(np.frombuffer(raw, np.uint16).copy()).view(self._frame_shape).to(self.device)
        return q.to(torch.float32) / UINT16_SCALE

    def __setitem__(self, ti: int, value: torch.Tensor) -> None:
        """Store frame ti from a float [K+1, 1, Hp, Wp] tensor with values in [0, 1]."""
        if self.storage == 'float32':
            self._data[:, ti] = value
            return
        q = (value.clamp(0, 1) * UINT16_SCALE).round_().to(torch.uint16)  # [K+1, 1, Hp, Wp]
        if self.storage == 'uint16':
            self._data[ti] = q
        else:
            os.pwrite(self._file.fileno(), q.cpu().numpy().tobytes(), ti * self._frame_bytes)

    def dense(self) -> torch.Tensor:
        """All frames as float32 [K+1, T, 1, Hp, Wp]: the stored tensor itself for 'float32', else a new tensor."""
        if self.storage == 'float32':
            return self._data
        out = torch.empty(self.shape, dtype=torch.float32, device=self.device)
        for ti in range(self.shape[1]):
            out[:, ti] = self[ti]
        return out

    def close(self) -> None:
        """Release the spill file (also done when the store is garbage-collected)."""
        if self._file is not None:
            self._file.close()
