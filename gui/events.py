"""Server-sent events of the annotation tool: a numbered log that worker threads append to and streams read."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    data: dict

    def sse(self) -> str:
        """The event in text/event-stream framing."""
        return f'id: {self.seq}\nevent: {self.kind}\ndata: {json.dumps(self.data)}\n\n'


class EventLog:
    """Append-only (bounded) event list; readers ask for everything after the last sequence number they saw."""

    def __init__(self, keep: int = 1000):
        self._events: list[Event] = []
        self._keep = keep
        self._seq = 0
        self._cond = threading.Condition()

    @property
    def last(self) -> int:
        """Sequence number of the newest event (0 before the first)."""
        return self._seq

    def push(self, kind: str, **data) -> Event:
        with self._cond:
            self._seq += 1
            event = Event(self._seq, kind, data)
            self._events = self._events[-self._keep + 1:] + [event]
            self._cond.notify_all()
            return event

    def after(self, seq: int, timeout: float = 0.0) -> list[Event]:
        """Events newer than seq; waits up to timeout seconds for one if there is none yet."""
        with self._cond:
            if self._seq <= seq and timeout > 0:
                self._cond.wait(timeout)
            return [e for e in self._events if e.seq > seq]
