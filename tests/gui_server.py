"""The annotation tool's real server (uvicorn) in a thread on a free loopback port, for the API and browser tests."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


@contextmanager
def serve(app) -> Iterator[str]:
    """Run app until the block ends; yields its base URL."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level='warning', timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={'sockets': [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError('the annotation tool server did not start')
        time.sleep(0.05)
    try:
        yield f'http://127.0.0.1:{sock.getsockname()[1]}/'
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
