"""The scoring server's accept loop: a connection cap, and backing off when out of files.

asyncio's own accept loop accepts whatever arrives and logs a traceback for every failed
``accept()``; here the loop stops accepting at ``max_connections`` (new clients wait in
the kernel's listen backlog, bounded by ``backlog``, until a connection closes), and when
``accept()`` fails for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) it retries
after a growing pause (50 ms doubling to 1 s) and logs one line per ``log_every`` seconds
with the number of failures, instead of spinning on a listening socket that stays
readable.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("trackbook.models.serving")
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 1.0


class RateLimitedLog:
    """Log a recurring failure at most once per ``every`` seconds, with its count."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.every = every
        self._clock = clock
        self._last = -float("inf")
        self._since = 0  # failures not yet reported
        self.total = 0

    def failed(self, message: str, *args: Any) -> None:
        self._since += 1
        self.total += 1
        now = self._clock()
        if now - self._last >= self.every:
            log.warning(message + " (%d times since the last report)", *args, self._since)
            self._last = now
            self._since = 0

    def recovered(self, message: str) -> None:
        if self.total:
            log.warning(message, self.total)
        self._last = -float("inf")
        self._since = self.total = 0


class Acceptor:
    """Accept connections on ``sock`` and hand each to ``connect(sock)``.

    ``open_count()`` is the number of open connections; :meth:`resume` is called when one
    closes, so accepting starts again once below ``cap``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, cap: int,
                 connect: Callable[[socket.socket], Any], open_count: Callable[[], int],
                 log_every: float = 10.0) -> None:
        self._loop = loop
        self._sock = sock
        self._cap = cap
        self._connect = connect
        self._open_count = open_count
        self._reading = False
        self._retry: asyncio.TimerHandle | None = None
        self._backoff = FIRST_BACKOFF
        self._closed = False
        self.errors = RateLimitedLog(log_every)

    def start(self) -> None:
        self._sock.setblocking(False)
        self.resume()

    def resume(self) -> None:
        """Accept again if below the cap and not backing off."""
        if self._closed or self._reading or self._retry is not None:
            return
        if self._open_count() < self._cap:
            self._reading = True
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def _pause(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._sock.fileno())

    def close(self) -> None:
        self._closed = True
        self._pause()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _accept(self) -> None:
        for _ in range(64):  # then let the other connections have the loop
            if self._open_count() >= self._cap:
                self._pause()  # the rest wait in the backlog
                return
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._back_off(exc)
                return
            if self.errors.total:
                self.errors.recovered("accepting connections again after %d failed accepts")
            self._backoff = FIRST_BACKOFF
            self._connect(conn)

    def _back_off(self, exc: OSError) -> None:
        self._pause()
        if exc.errno in OUT_OF_RESOURCES:
            self.errors.failed("cannot accept connections: %s; %d open; retrying in %.2g s, "
                               "new clients wait in the listen backlog",
                               exc.strerror or exc, self._open_count(), self._backoff)
        else:
            self.errors.failed("accept() failed: %s; retrying in %.2g s", exc, self._backoff)
        self._retry = self._loop.call_later(self._backoff, self._retry_now)
        self._backoff = min(MAX_BACKOFF, self._backoff * 2)

    def _retry_now(self) -> None:
        self._retry = None
        self.resume()
