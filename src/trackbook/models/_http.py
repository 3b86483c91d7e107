"""A small HTTP/1.1 server on asyncio, for the scoring server.

Why not ``http.server``: with a thread per connection, every request pays for header parsing
with the ``email`` package and for GIL hand-offs between threads, which on a small machine
costs more than scoring a row. Why not uvicorn: it has no header or body timeout and no body
limit (a slowloris client holds a connection for ever), and scoring one row inline behind
it (uvloop + httptools) gave ~1,700 requests/s here against ~3,800 for this server, whose
requests of one loop iteration are scored together. One event-loop thread reads requests
from all connections; the application sees each complete request and may answer it at once
or later, from any thread through the loop (``Request.respond`` runs on the loop).

Supported: keep-alive (HTTP/1.1 default, ``Connection: close``), pipelined requests (answered
in order), ``Expect: 100-continue``, bodies with ``Content-Length``. Not supported (clear
4xx): chunked request bodies, header blocks over 64 KiB, bodies over the size limit.

Every connection is held to the :class:`~._limits.ServerLimits` timeouts by one timer that
looks at all connections a few times a second (``_sweep``): a request head must arrive
within ``header_timeout``, a body must keep arriving (no pause over ``body_timeout``, then at
least ``min_body_rate`` bytes/s), an idle keep-alive connection is closed after
``keepalive_timeout``, a client that stops reading its responses is dropped after
``body_timeout``, and a request still unanswered after ``request_timeout`` gets 504.
Connections are accepted by ``_listen.Acceptor`` up to the connection cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ._limits import ServerLimits
from ._listen import Acceptor

log = logging.getLogger(__name__)
MAX_HEADER_BYTES = 64 * 1024
READ_BUFFER_BYTES = 64 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
            415: "Unsupported Media Type", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented", 504: "Gateway Timeout"}
_Head = tuple[str, str, str, dict[str, str], int, int]  # method, path, version, headers,
#                                                         head length, body length


class Request:
    """One parsed request; the application answers it with :meth:`respond` (once, on the
    event loop)."""

    __slots__ = ("_conn", "body", "done", "headers", "keep_alive", "method", "path",
                 "response", "started")

    def __init__(self, conn: _Connection, method: str, path: str, headers: dict[str, str],
                 body: bytes, keep_alive: bool) -> None:
        self._conn = conn
        self.method = method
        self.path = path
        self.headers = headers  # lower-case names
        self.body = body
        self.keep_alive = keep_alive
        self.done = False
        self.response: bytes | None = None
        self.started = time.monotonic()

    def respond(self, status: int, body: bytes, content_type: str) -> None:
        if self.done:
            return
        self.done = True
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nServer: trackbook\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n")
        if not self.keep_alive:
            head += "Connection: close\r\n"
        self.response = head.encode("latin-1") + b"\r\n" + body
        self._conn.flush()


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error_code": code, "message": message}).encode("utf-8")


class _Connection(asyncio.BufferedProtocol):
    """One client connection. A buffered protocol: asyncio's plain ``Protocol`` reads with
    ``recv(256 KiB)``, and allocating 256 KiB per read costs ~15 us here (more than
    parsing a request); this one reads into the server's one preallocated buffer."""

    def __init__(self, server: HTTPServer) -> None:
        self._server = server
        self._buf = bytearray()
        self._pending: deque[Request] = deque()  # answered in this order
        self._transport: asyncio.Transport | None = None
        self._closing = False
        self._head: _Head | None = None  # parsed head of the request whose body is arriving
        now = time.monotonic()
        self._since = now  # start of the current wait: idle, head or body
        self._last_read = now
        self._served = 0
        self._write_paused: float | None = None  # when the client stopped reading

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._server.connections.discard(self)
        self._server.acceptor_resume()

    def pause_writing(self) -> None:
        self._write_paused = time.monotonic()
        if self._transport is not None:
            self._transport.pause_reading()  # no new requests while answers pile up

    def resume_writing(self) -> None:
        self._write_paused = None
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._server.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        # The buffer is shared by every connection: copy out before anything else reads.
        self.data_received(self._server.read_buffer[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        now = time.monotonic()
        if not self._buf and not self._pending and self._head is None and self._served:
            self._since = now  # the head of the next request starts arriving
        self._last_read = now
        self._buf += data
        while not self._closing:
            head = self._head
            if head is None:
                head = self._parse_head()
                if head is None:
                    return
            method, path, version, headers, end, length = head
            if len(self._buf) < end + length:
                if self._head is None:
                    self._head = head
                    self._since = now  # the body starts arriving
                    if headers.get("expect", "").lower() == "100-continue" and \
                            len(self._buf) == end and self._transport is not None:
                        self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            self._head = None
            body = bytes(self._buf[end:end + length])
            del self._buf[:end + length]
            conn_header = headers.get("connection", "").lower()
            keep = conn_header != "close" if version == "HTTP/1.1" else \
                conn_header == "keep-alive"
            request = Request(self, method, path, headers, body, keep)
            self._pending.append(request)
            self._served += 1
            if not keep:
                self._closing = True
            try:
                self._server.handler(request)
            except Exception:  # the application must answer; never drop a connection
                log.exception("request handler failed")
                request.respond(500, error_body("INTERNAL_ERROR", "the server failed"),
                                "application/json")

    def _parse_head(self) -> _Head | None:
        """The head at the start of the buffer; None if incomplete or refused (answered)."""
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                self._fail(431, "the request headers are larger than 64 KiB")
            return None
        lines = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(400, f"malformed request line {lines[0][:100]!r}")
            return None
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._fail(400, f"malformed header line {line[:100]!r}")
                return None
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._fail(411, "chunked request bodies are not accepted; send the body with "
                            "a Content-Length header")
            return None
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            self._fail(400, f"bad Content-Length {length_text!r}")
            return None
        length = int(length_text)
        limit = self._server.limits.max_body_bytes
        if length > limit:
            self._fail(413, f"the body is {length} bytes; the limit is {limit} "
                            "(max_body_bytes, --max-body-bytes): send smaller batches")
            return None
        return parts[0].upper(), parts[1], parts[2], headers, end + 4, length

    def _fail(self, status: int, message: str) -> None:
        self._closing = True
        self._head = None
        request = Request(self, "", "", {}, b"", keep_alive=False)
        self._pending.append(request)
        request.respond(status, error_body("BAD_REQUEST", message), "application/json")

    def flush(self) -> None:
        """Write the answered requests at the head of the queue (responses keep order)."""
        while self._pending and self._pending[0].done:
            request = self._pending.popleft()
            if self._transport is None:
                continue
            self._transport.write(request.response or b"")
            if not request.keep_alive:
                self._transport.close()
                self._transport = None
        if not self._pending:
            self._since = time.monotonic()  # idle (or the next head) from now

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
            self._transport = None

    def check(self, now: float) -> None:
        """Enforce the timeouts (called by the server's sweep)."""
        limits = self._server.limits
        if self._transport is None:
            return
        if self._pending and not self._pending[0].done:
            request = self._pending[0]
            if now - request.started > limits.request_timeout:
                log.warning("a request took over %g s (request_timeout); answered 504",
                            limits.request_timeout)
                request.respond(504, error_body(
                    "REQUEST_TIMEOUT", f"scoring took longer than {limits.request_timeout:g} s "
                                       "(request_timeout, --request-timeout)"),
                    "application/json")
            return
        if self._write_paused is not None:
            if now - self._write_paused > limits.body_timeout:
                self.abort()  # the client reads no responses: nothing more can be sent
            return
        if self._closing:
            return
        if self._head is not None:
            received = len(self._buf) - self._head[4]
            elapsed = now - self._since
            if now - self._last_read > limits.body_timeout or (
                    elapsed > limits.body_timeout
                    and received < limits.min_body_rate * elapsed):
                self._fail(408, f"the body arrived too slowly: {received} of "
                                f"{self._head[5]} bytes in {elapsed:.1f} s (body_timeout "
                                f"{limits.body_timeout:g} s, min_body_rate "
                                f"{limits.min_body_rate:g} bytes/s)")
            return
        if self._buf:
            if now - self._since > limits.header_timeout:
                self._fail(408, f"the request head did not arrive within "
                                f"{limits.header_timeout:g} s (header_timeout)")
            return
        idle = limits.keepalive_timeout if self._served else limits.header_timeout
        if now - self._since > idle:
            self._transport.close()  # idle: nothing to answer
            self._transport = None


class HTTPServer:
    """Listen on ``host:port`` and call ``handler(request)`` for every request."""

    def __init__(self, host: str, port: int, handler: Callable[[Request], Any],
                 limits: ServerLimits) -> None:
        self.handler = handler
        self.limits = limits
        self.connections: set[_Connection] = set()
        # What every connection reads into (one event-loop thread: one read at a time).
        self.read_buffer = memoryview(bytearray(READ_BUFFER_BYTES))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))  # fails here, in the caller, if the port is taken
        self._sock.listen(limits.backlog)
        self.address = self._sock.getsockname()[:2]
        self.loop = asyncio.new_event_loop()
        self._opening = 0  # accepted, transport not made yet
        self._acceptor = Acceptor(self.loop, self._sock, limits.connection_cap(),
                                  self._attach, self._open_count)
        self._started = False
        self._running = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def _open_count(self) -> int:
        return len(self.connections) + self._opening

    def acceptor_resume(self) -> None:
        self._acceptor.resume()

    def _attach(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._opening += 1
        self.loop.create_task(self._make_transport(sock))

    async def _make_transport(self, sock: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(lambda: _Connection(self), sock)
        except OSError:
            sock.close()
        finally:
            self._opening -= 1
            self._acceptor.resume()

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections):
            try:
                conn.check(now)
            except Exception:  # one connection's trouble never stops the timeouts
                log.exception("checking a connection's timeouts failed")
                conn.abort()
        self.loop.call_later(self.limits.tick(), self._sweep)

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`shutdown` (or Ctrl-C)."""
        self._started = True
        asyncio.set_event_loop(self.loop)
        try:
            self._acceptor.start()
            self.loop.call_soon(self._sweep)
            self.loop.call_soon(self._running.set)
            self.loop.run_forever()
        finally:
            self._acceptor.close()
            for conn in list(self.connections):
                conn.abort()
            with contextlib.suppress(RuntimeError):
                self.loop.run_until_complete(asyncio.sleep(0))  # let connections close
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.close()
            self._sock.close()
            self._running.set()  # nobody waits for a loop that is gone
            self._stopped.set()

    def start(self, name: str) -> None:
        """Serve in a daemon thread; return once the loop is running."""
        self._started = True
        self._thread = threading.Thread(target=self.serve_forever, name=name, daemon=True)
        self._thread.start()
        self._running.wait(timeout=30)

    def wait_stopped(self) -> None:
        if self._started:
            self._stopped.wait()

    def shutdown(self) -> None:
        """Stop the loop (from any thread) and wait until it has closed."""
        if not self._started:
            self._sock.close()
            self.loop.close()
            return
        self._running.wait(timeout=30)
        with contextlib.suppress(RuntimeError):  # the loop already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._stopped.wait(timeout=30)
        if self._thread is not None:
            self._thread.join(timeout=30)
