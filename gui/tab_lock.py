"""One editing session at a time: the browser tab that claimed the video holds it while its event stream is open."""
from __future__ import annotations

import secrets
import threading
import time


class NotOwner(RuntimeError):
    """The request comes from a tab that does not hold the editing session."""


class TabLock:
    """An owner token, kept alive by the owner's event stream (or any of its requests) for `ttl` seconds."""

    def __init__(self, ttl: float = 10.0):
        self.ttl = ttl
        self._owner: str | None = None
        self._since = self._seen = 0.0
        self._taken_over: dict[str, float] = {}  # earlier owners -> when another tab took over
        self._lock = threading.Lock()

    def _alive(self) -> bool:
        return self._owner is not None and time.monotonic() - self._seen < self.ttl

    def claim(self, force: bool = False) -> str:
        """A new owner token; refused while another tab is alive, unless force (take over)."""
        with self._lock:
            if self._alive() and not force:
                since = time.strftime('%H:%M:%S', time.localtime(self._since))
                raise NotOwner(f'this video is already being edited in another browser tab (since {since}). One '
                               'editing session at a time: close that tab, or press "Take over" here.')
            if self._owner is not None:
                self._taken_over[self._owner] = time.time()
            self._owner = secrets.token_hex(16)
            self._since = time.time()
            self._seen = time.monotonic()
            return self._owner

    def check(self, token: str | None) -> None:
        """Raise NotOwner unless token holds the session; refreshes it."""
        with self._lock:
            if token is not None and token == self._owner:
                self._seen = time.monotonic()
                return
            if token in self._taken_over:
                at = time.strftime('%H:%M:%S', time.localtime(self._taken_over[token]))
                raise NotOwner(f'another browser tab took over editing at {at}; this tab is read-only now. Reload '
                               'the page to take it back.')
            raise NotOwner('this tab does not hold the editing session: reload the page (one editing session at a '
                           'time)')

    def touch(self, token: str | None) -> bool:
        """Refresh the owner's lease (from its event stream); False if token is not the owner."""
        try:
            self.check(token)
            return True
        except NotOwner:
            return False
