"""A REST scoring server with MLflow's endpoints, on the standard library's HTTP server.

- ``GET /ping``, ``GET /health``: 200 once the model is loaded
- ``GET /version``: the trackbook version
- ``POST /invocations``: JSON (``dataframe_split``, ``dataframe_records``, ``instances``,
  ``inputs``, optional ``params``) or CSV; answers ``{"predictions": ...}``

Bad requests get a 4xx JSON body ``{"error_code": "BAD_REQUEST", "message": "..."}`` that
says what was wrong. The HTTP layer is a small asyncio server (``_http``): one event-loop
thread, HTTP/1.1 keep-alive, up to ``max_connections`` concurrent connections, each held to
header, body and keep-alive timeouts (``_limits.ServerLimits``); requests that arrive
together are scored in one batch when the model allows it (``_batching``), and rows of
plain numbers reach a plain scikit-learn model as one numpy array, without pandas
(``_fastpath``). Predictions, and the parsing of bodies over 64 KiB, run in worker threads,
so a slow model or a large body never holds up ``/ping`` or the other connections. It binds
127.0.0.1 unless told otherwise.

>>> server = tb.models.serve("runs:/<run_id>/model", port=5001)   # returns once listening
>>> server.url
'http://127.0.0.1:5001'
>>> server.stop()
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._version import __version__
from ._errors import PayloadError, SchemaEnforcementError
from ._http import HTTPServer, Request, error_body
from ._limits import ServerLimits
from .loading import PyFuncModel, load_model
from .payload import decode_json, parse_csv, parse_json_payload, predictions_json, table_rows

log = logging.getLogger(__name__)
MAX_BODY_BYTES = ServerLimits.max_body_bytes
INLINE_BYTES = 64 * 1024  # bodies up to this are decoded on the loop (~tens of us)
CONTENT_TYPES = ("application/json", "text/csv")
JSON = "application/json"
Reply = tuple[int, bytes, str]


def _split_type(content_type: str) -> tuple[str, str]:
    """``(mime type, charset)`` of a Content-Type header, lower-case; charset utf-8 if none."""
    mime, _, rest = content_type.partition(";")
    charset = rest.strip().lower().removeprefix("charset=") if "charset=" in rest.lower() \
        else "utf-8"
    return mime.strip().lower(), charset


@functools.lru_cache(maxsize=64)
def _utf8_json(content_type: str) -> bool:
    """True for ``application/json`` in UTF-8 (what the batched path decodes)."""
    mime, charset = _split_type(content_type)
    return mime == JSON and charset in ("utf-8", "utf8")


def _error(status: int, code: str, message: str) -> Reply:
    return status, error_body(code, message), JSON


def _outcome(predictions: Any, exc: BaseException | None) -> Reply:
    """The HTTP reply for a prediction or the exception predicting raised."""
    if exc is None:
        try:
            return 200, predictions_json(predictions), JSON
        except (TypeError, ValueError) as err:
            return _error(500, "INTERNAL_ERROR", f"predictions are not JSON-serialisable: {err}")
    if isinstance(exc, (PayloadError, SchemaEnforcementError)):
        return _error(400, "BAD_REQUEST", str(exc))
    if isinstance(exc, (ValueError, TypeError, KeyError, IndexError)):
        log.info("model failed on a request", exc_info=exc)
        return _error(400, "BAD_REQUEST", f"the model could not predict on this input: "
                                          f"{type(exc).__name__}: {exc}")
    log.error("model error", exc_info=exc)
    return _error(500, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")


class ScoringServer:
    """A scoring server for one model.

    Parameters
    ----------
    model
        A model URI/path, or a loaded :class:`PyFuncModel`.
    host, port
        Where to listen; ``port=0`` picks a free port (see ``.port``).
    batching
        Score concurrent requests together when the model allows it (see ``_batching``).
    limits
        A :class:`ServerLimits`; any of its fields may be given as a keyword instead
        (``header_timeout``, ``body_timeout``, ``min_body_rate``, ``keepalive_timeout``,
        ``request_timeout``, ``max_connections``, ``backlog``, ``max_body_bytes``,
        ``max_json_depth``, ``workers``).
    """

    def __init__(self, model: str | os.PathLike[str] | PyFuncModel, host: str = "127.0.0.1",
                 port: int = 5001, *, batching: bool = True, limits: ServerLimits | None = None,
                 **limit_values: Any) -> None:
        self.limits = _limits(limits, limit_values)
        self.model = model if isinstance(model, PyFuncModel) else load_model(model)
        self._schema = self.model.metadata.get_input_schema()
        self._names = [str(n) for n in self._schema.input_names()] \
            if self._schema is not None and self._schema.has_input_names() else None
        self._http = HTTPServer(host, port, self._handle, self.limits)
        self._pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="trackbook-score")
        self._depth = self.limits.max_json_depth
        self._running = False
        self._batcher = None
        if batching and self.model.rowwise and self._schema is not None \
                and self._schema.has_input_names() and not self._schema.is_tensor_spec():
            from ._batching import Batcher

            self._batcher = Batcher(self.model, self._schedule, submit=self._pool.submit,
                                    post=self._post)

    def _post(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the event loop (from a worker thread)."""
        with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped
            self._http.loop.call_soon_threadsafe(fn)

    def _offload(self, request: Request, body: bytes | dict[str, Any], content_type: str
                 ) -> None:
        """Answer ``request`` from a worker thread."""
        def work() -> None:
            reply = self.invocations(body, content_type)
            self._post(lambda: request.respond(*reply))

        try:
            self._pool.submit(work)
        except RuntimeError:  # shutting down
            request.respond(*_error(500, "INTERNAL_ERROR", "the server is stopping"))

    def _schedule(self, delay: float, fn: Any) -> None:
        if delay > 0:
            self._http.loop.call_later(delay, fn)
        else:
            self._http.loop.call_soon(fn)

    @property
    def host(self) -> str:
        return str(self._http.address[0])

    @property
    def port(self) -> int:
        return int(self._http.address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _handle(self, request: Request) -> None:
        path = request.path.split("?", 1)[0]
        if request.method == "GET" and path != "/invocations":
            if path in ("/ping", "/health"):
                request.respond(200, b"\n", JSON)
            elif path == "/version":
                request.respond(200, __version__.encode(), "text/plain; charset=utf-8")
            else:
                request.respond(*_error(404, "ENDPOINT_NOT_FOUND",
                                        f"no endpoint {path!r}; use /ping, /health, /version "
                                        "or POST /invocations"))
            return
        if path != "/invocations":
            request.respond(*_error(404, "ENDPOINT_NOT_FOUND",
                                    f"no endpoint {path!r}; POST model input to /invocations"))
            return
        if request.method != "POST":
            request.respond(*_error(405, "BAD_REQUEST", "use POST for /invocations"))
            return
        content_type = request.headers.get("content-type", "")
        if self._batcher is not None and len(request.body) <= INLINE_BYTES \
                and _utf8_json(content_type):
            try:
                doc = decode_json(request.body, self._depth)
            except PayloadError as exc:
                request.respond(*_outcome(None, exc))
                return
            table = table_rows(doc, self._names)
            if table is not None:
                self._batcher.add(*table, lambda p, e: request.respond(*_outcome(p, e)))
                return
            self._offload(request, doc, content_type)
            return
        self._offload(request, request.body, content_type)

    def invocations(self, body: bytes | dict[str, Any], content_type: str) -> Reply:
        """Answer one ``/invocations`` request: ``(status, body, content type)``."""
        mime, charset = _split_type(content_type)
        if charset not in ("utf-8", "utf8"):
            return _error(415, "BAD_REQUEST", f"charset {charset!r} is not supported; send "
                                              "UTF-8")
        try:
            if mime == JSON:
                data, params = parse_json_payload(body, self._schema, self._depth)
            elif mime == "text/csv":
                assert isinstance(body, bytes)
                data, params = parse_csv(body, self._schema), None
            else:
                return _error(415, "BAD_REQUEST",
                              f"Content-Type {content_type or '(none)'!r} is not supported; "
                              f"use one of {list(CONTENT_TYPES)}")
            return _outcome(self.model.predict(data, params=params), None)
        except Exception as exc:
            return _outcome(None, exc)

    def start(self) -> ScoringServer:
        """Serve in a background (daemon) thread; return at once."""
        if not self._running:
            self._running = True
            self._http.start(f"trackbook-serve-{self.port}")
            log.info("serving %s at %s", self.model.model_dir, self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C) or :meth:`stop`."""
        log.info("serving %s at %s", self.model.model_dir, self.url)
        self._running = True
        try:
            self._http.serve_forever()
        finally:
            self._running = False

    def wait(self) -> None:
        """Block until the server stops (for scripts that started it in the background)."""
        self._http.wait_stopped()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._http.shutdown()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._running = False

    def __enter__(self) -> ScoringServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "not started"
        return f"<ScoringServer {self.url} ({state}) model={self.model.model_dir}>"


def _limits(limits: ServerLimits | None, values: dict[str, Any]) -> ServerLimits:
    known = {f.name for f in dataclasses.fields(ServerLimits)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TypeError(f"unknown server limit(s) {unknown}; known: {sorted(known)}")
    return dataclasses.replace(limits or ServerLimits(), **values)


def serve(model_uri: str | os.PathLike[str] | PyFuncModel, port: int = 5001,
          host: str = "127.0.0.1", *, block: bool = False, batching: bool = True,
          **limits: Any) -> ScoringServer:
    """Serve a model over HTTP (MLflow's ``/invocations`` protocol).

    Parameters
    ----------
    model_uri
        ``runs:/<run_id>/<path>``, a path, or a loaded model.
    port, host
        Where to listen (127.0.0.1 by default: only this machine can connect; pass
        ``host="0.0.0.0"`` to accept other machines). ``port=0`` picks a free port.
    block
        False (default): start in a background thread and return the running server
        (``.url``, ``.stop()``), which suits notebooks. True: serve until Ctrl-C.
    batching
        Score concurrent requests together when the model allows it.
    **limits
        Fields of :class:`~trackbook.models._limits.ServerLimits`: ``header_timeout``
        (10 s), ``body_timeout`` (30 s), ``min_body_rate`` (10,000 bytes/s),
        ``keepalive_timeout`` (5 s), ``request_timeout`` (60 s), ``max_connections``
        (1,000, fewer if the file limit is lower), ``backlog`` (256), ``max_body_bytes``
        (100 MiB), ``max_json_depth`` (64), ``workers`` (4).
    """
    server = ScoringServer(model_uri, host, port, batching=batching, **limits)
    if block:
        server.serve_forever()
        return server
    return server.start()
