"""A REST scoring server with MLflow's endpoints, on the standard library's HTTP server.

- ``GET /ping``, ``GET /health``: 200 once the model is loaded
- ``GET /version``: the trackbook version
- ``POST /invocations``: JSON (``dataframe_split``, ``dataframe_records``, ``instances``,
  ``inputs``, optional ``params``) or CSV; answers ``{"predictions": ...}``

Bad requests get a 4xx JSON body ``{"error_code": "BAD_REQUEST", "message": "..."}`` that
says what was wrong. The HTTP layer is a small asyncio server (``_http``): one event-loop
thread, HTTP/1.1 keep-alive, any number of concurrent connections; requests that arrive
together are scored in one batch when the model allows it (``_batching``), and rows of
plain numbers reach a plain scikit-learn model as one numpy array, without pandas
(``_fastpath``). It binds 127.0.0.1 unless told otherwise.

>>> server = tb.models.serve("runs:/<run_id>/model", port=5001)   # returns once listening
>>> server.url
'http://127.0.0.1:5001'
>>> server.stop()
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from .._version import __version__
from ._errors import PayloadError, SchemaEnforcementError
from ._http import HTTPServer, Request, error_body
from .loading import PyFuncModel, load_model
from .payload import decode_json, parse_csv, parse_json_payload, predictions_json, table_rows

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 100 * 2**20
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
    """

    def __init__(self, model: str | os.PathLike[str] | PyFuncModel, host: str = "127.0.0.1",
                 port: int = 5001, *, batching: bool = True,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.model = model if isinstance(model, PyFuncModel) else load_model(model)
        self._schema = self.model.metadata.get_input_schema()
        self._names = [str(n) for n in self._schema.input_names()] \
            if self._schema is not None and self._schema.has_input_names() else None
        self._http = HTTPServer(host, port, self._handle, max_body_bytes)
        self._running = False
        self._batcher = None
        if batching and self.model.rowwise and self._schema is not None \
                and self._schema.has_input_names() and not self._schema.is_tensor_spec():
            from ._batching import Batcher

            self._batcher = Batcher(self.model, self._schedule)

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
        if self._batcher is not None and _utf8_json(content_type):
            try:
                doc = decode_json(request.body)
            except PayloadError as exc:
                request.respond(*_outcome(None, exc))
                return
            table = table_rows(doc, self._names)
            if table is not None:
                self._batcher.add(*table, lambda p, e: request.respond(*_outcome(p, e)))
                return
            request.respond(*self.invocations(doc, content_type))
            return
        request.respond(*self.invocations(request.body, content_type))

    def invocations(self, body: bytes | dict[str, Any], content_type: str) -> Reply:
        """Answer one ``/invocations`` request: ``(status, body, content type)``."""
        mime, charset = _split_type(content_type)
        if charset not in ("utf-8", "utf8"):
            return _error(415, "BAD_REQUEST", f"charset {charset!r} is not supported; send "
                                              "UTF-8")
        try:
            if mime == JSON:
                data, params = parse_json_payload(body, self._schema)
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
        self._running = False

    def __enter__(self) -> ScoringServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "not started"
        return f"<ScoringServer {self.url} ({state}) model={self.model.model_dir}>"


def serve(model_uri: str | os.PathLike[str] | PyFuncModel, port: int = 5001,
          host: str = "127.0.0.1", *, block: bool = False) -> ScoringServer:
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
    """
    server = ScoringServer(model_uri, host, port)
    if block:
        server.serve_forever()
        return server
    return server.start()
