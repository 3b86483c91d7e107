"""The scoring server's limits: timeouts, connection cap, body size, JSON depth, workers.

One frozen value, checked once, shared by the HTTP layer (``_http``), the accept loop
(``_listen``) and the scoring server. The defaults follow what MLflow's serving stack does
where it says (``mlflow models serve`` runs uvicorn: 5 s keep-alive, a 60 s request timeout
answered with 504, ``MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT``; its container puts nginx in
front with ``client_max_body_size 100m``) and close a door where it does not (uvicorn has
no header or body timeout and no body limit).
"""

from __future__ import annotations

import dataclasses
import math

from ._errors import ModelError

DEFAULT_MAX_CONNECTIONS = 1000
FD_RESERVE = 64  # descriptors kept for the model, logs and the event loop itself


@dataclasses.dataclass(frozen=True)
class ServerLimits:
    """What one client may take from the scoring server.

    Parameters
    ----------
    header_timeout
        Seconds a client has to send a whole request head (request line and headers), from
        the first byte of the request, or from connecting for the first request. Past it:
        408 and the connection is closed (this is what stops slowloris clients).
    body_timeout
        The longest pause, in seconds, while a body is arriving; also the grace period after
        which ``min_body_rate`` applies. Past it: 408, connection closed. The same limit
        applies to a client that stops reading its responses.
    min_body_rate
        Bytes per second a body must average once it has been arriving for
        ``body_timeout`` seconds (0: no minimum rate).
    keepalive_timeout
        Seconds an idle keep-alive connection is kept open between requests.
    request_timeout
        Seconds a request may take to score; past it the client gets 504 (the prediction
        itself cannot be interrupted and goes on in its worker thread).
    max_connections
        Open connections at most; beyond it new connections wait in the listen backlog
        until one closes. None: 1,000, or fewer when the process may open fewer files.
    backlog
        Connections the kernel queues before the server accepts them (``listen(backlog)``).
    max_body_bytes
        Largest request body; a larger ``Content-Length`` gets 413 before the body is read.
    max_json_depth
        Deepest nesting of JSON arrays and objects in a body (400 past it).
    workers
        Threads that parse large bodies and run predictions, off the event loop.
    """

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    min_body_rate: float = 10_000.0
    keepalive_timeout: float = 5.0
    request_timeout: float = 60.0
    max_connections: int | None = None
    backlog: int = 256
    max_body_bytes: int = 100 * 2**20
    max_json_depth: int = 64
    workers: int = 4

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keepalive_timeout", "request_timeout"):
            _check(name, getattr(self, name), positive=True)
        _check("min_body_rate", self.min_body_rate, positive=False)
        for name in ("backlog", "max_body_bytes", "max_json_depth", "workers"):
            _check_int(name, getattr(self, name))
        if self.max_connections is not None:
            _check_int("max_connections", self.max_connections)

    def connection_cap(self) -> int:
        """``max_connections``, or the default that fits the process's file limit."""
        if self.max_connections is not None:
            return self.max_connections
        try:
            import resource

            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except (ImportError, OSError, ValueError):
            return DEFAULT_MAX_CONNECTIONS
        if soft == resource.RLIM_INFINITY:
            return DEFAULT_MAX_CONNECTIONS
        return max(1, min(DEFAULT_MAX_CONNECTIONS, soft - FD_RESERVE))

    def tick(self) -> float:
        """How often the server looks for connections past a timeout (seconds)."""
        shortest = min(self.header_timeout, self.body_timeout, self.keepalive_timeout,
                       self.request_timeout)
        return min(1.0, max(0.02, shortest / 4))


def _check(name: str, value: object, *, positive: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        want = "a number of seconds > 0" if positive else "a number >= 0"
        raise ModelError(f"{name} must be {want}, got {value!r}")


def _check_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ModelError(f"{name} must be a whole number >= 1, got {value!r}")
