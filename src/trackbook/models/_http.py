"""A small HTTP/1.1 server on asyncio, for the scoring server.

Why not ``http.server``: with a thread per connection, every request pays for header parsing
with the ``email`` package and for GIL hand-offs between threads, which on a small machine
costs more than scoring a row. Here one event-loop thread reads requests from all
connections; the application sees each complete request and may answer it at once or later
(the scoring server collects the requests of one loop iteration and scores them together).

Supported: keep-alive (HTTP/1.1 default, ``Connection: close``), pipelined requests (answered
in order), ``Expect: 100-continue``, bodies with ``Content-Length``. Not supported (clear
4xx): chunked request bodies, header blocks over 64 KiB, bodies over the size limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
MAX_HEADER_BYTES = 64 * 1024
READ_BUFFER_BYTES = 64 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            411: "Length Required", 413: "Payload Too Large", 415: "Unsupported Media Type",
            431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented"}


class Request:
    """One parsed request; the application answers it with :meth:`respond` (once)."""

    __slots__ = ("_conn", "body", "done", "headers", "keep_alive", "method", "path",
                 "response")

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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._server.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        # The buffer is shared by every connection: copy out before anything else reads.
        self.data_received(self._server.read_buffer[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        self._buf += data
        while not self._closing:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEADER_BYTES:
                    self._fail(431, "the request headers are larger than 64 KiB")
                return
            lines = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
            parts = lines[0].split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self._fail(400, f"malformed request line {lines[0][:100]!r}")
                return
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    self._fail(400, f"malformed header line {line[:100]!r}")
                    return
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._fail(411, "chunked request bodies are not accepted; send the body with "
                                "a Content-Length header")
                return
            length_text = headers.get("content-length", "0")
            if not length_text.isdigit():
                self._fail(400, f"bad Content-Length {length_text!r}")
                return
            length = int(length_text)
            if length > self._server.max_body_bytes:
                self._fail(413, f"the body is {length} bytes; the limit is "
                                f"{self._server.max_body_bytes}: send smaller batches")
                return
            if len(self._buf) < end + 4 + length:
                if headers.get("expect", "").lower() == "100-continue" and \
                        len(self._buf) == end + 4 and self._transport is not None:
                    self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            body = bytes(self._buf[end + 4:end + 4 + length])
            del self._buf[:end + 4 + length]
            conn_header = headers.get("connection", "").lower()
            keep = conn_header != "close" if parts[2] == "HTTP/1.1" else \
                conn_header == "keep-alive"
            request = Request(self, parts[0].upper(), parts[1], headers, body, keep)
            self._pending.append(request)
            if not keep:
                self._closing = True
            try:
                self._server.handler(request)
            except Exception:  # the application must answer; never drop a connection
                log.exception("request handler failed")
                request.respond(500, error_body("INTERNAL_ERROR", "the server failed"),
                                "application/json")

    def _fail(self, status: int, message: str) -> None:
        self._closing = True
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


class HTTPServer:
    """Listen on ``host:port`` and call ``handler(request)`` for every request."""

    def __init__(self, host: str, port: int, handler: Callable[[Request], Any],
                 max_body_bytes: int) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        # What every connection reads into (one event-loop thread: one read at a time).
        self.read_buffer = memoryview(bytearray(READ_BUFFER_BYTES))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))  # fails here, in the caller, if the port is taken
        self._sock.listen(256)
        self.address = self._sock.getsockname()[:2]
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._started = False
        self._running = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`shutdown` (or Ctrl-C)."""
        self._started = True
        asyncio.set_event_loop(self.loop)
        try:
            self._server = self.loop.run_until_complete(
                self.loop.create_server(lambda: _Connection(self), sock=self._sock))
            self.loop.call_soon(self._running.set)
            self.loop.run_forever()
        finally:
            if self._server is not None:
                self._server.close()
                self.loop.run_until_complete(self._server.wait_closed())
            self.loop.close()
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
