"""The scoring server under hostile load, for real: sockets on 127.0.0.1, no mocks.

Slowloris clients, a 100 MB body, deeply nested JSON, a slow model and a server out of file
descriptors (a child process with a low ``RLIMIT_NOFILE``): ``/ping`` keeps answering,
every limit gets its status code and message, and the log stays short. Every loop here is
bounded and each test takes a few seconds.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import trackbook as tb
from trackbook.models import ScoringServer
from trackbook.models import sklearn as tsk
from trackbook.models.pyfunc import PythonModel
from trackbook.models.pyfunc import save_model as save_python_model

COLUMNS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((200, 4)), columns=COLUMNS)
    path = tmp_path_factory.mktemp("limits") / "model"
    tsk.save_model(LogisticRegression().fit(X, (X["a"] > 0.5).astype(int)), path,
                   input_example=X[:2])
    return path


def ping_seconds(host: str, port: int, timeout: float = 10.0) -> float:
    """Seconds for a fresh connection's GET /ping to come back 200."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    finally:
        conn.close()
    return time.perf_counter() - t0


def post(host: str, port: int, body: bytes, timeout: float = 30.0) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    return resp.status, json.loads(raw)


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return data
        if not chunk:
            return data
        data += chunk


@pytest.fixture
def strict(model_dir: Path) -> Iterator[ScoringServer]:
    with ScoringServer(model_dir, port=0, header_timeout=1, body_timeout=1,
                       keepalive_timeout=1, min_body_rate=1000) as srv:
        yield srv


def test_defaults_are_sensible_and_bind_loopback(model_dir: Path) -> None:
    with ScoringServer(model_dir, port=0) as srv:
        assert srv.host == "127.0.0.1"
        limits = srv.limits
        assert (limits.header_timeout, limits.keepalive_timeout) == (10, 5)
        assert limits.max_body_bytes == 100 * 2**20
        assert 1 <= limits.connection_cap() <= 1000
    with pytest.raises(tb.TrackbookError, match="header_timeout must be a number of seconds"):
        ScoringServer(model_dir, port=0, header_timeout=-1)


def test_slowloris_connections_time_out_and_ping_still_answers(strict: ScoringServer) -> None:
    """Hundreds of half-sent heads hold nothing: /ping answers at once, and each slow
    client gets 408 and a closed connection after header_timeout."""
    slow = []
    try:
        for _ in range(300):
            s = socket.create_connection((strict.host, strict.port), timeout=10)
            s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
            slow.append(s)
        silent = socket.create_connection((strict.host, strict.port), timeout=10)
        slow.append(silent)  # connects and sends nothing at all
        assert ping_seconds(strict.host, strict.port) < 1.0
        t0 = time.perf_counter()
        replies = [read_all(s) for s in slow]  # each returns once the server closes it
        waited = time.perf_counter() - t0
    finally:
        for s in slow:
            s.close()
    assert waited < 5.0
    assert all(r.startswith(b"HTTP/1.1 408 ") for r in replies[:-1]), replies[0]
    assert b"header_timeout" in replies[0]
    assert replies[-1] == b""  # nothing was asked, nothing is answered: just closed
    assert ping_seconds(strict.host, strict.port) < 1.0


def test_idle_keep_alive_and_slow_bodies_are_closed(strict: ScoringServer) -> None:
    body = json.dumps({"inputs": [[0.1, 0.2, 0.3, 0.4]]}).encode()
    with socket.create_connection((strict.host, strict.port), timeout=10) as s:
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        t0 = time.perf_counter()
        reply = read_all(s)  # the answer, then the close after keepalive_timeout
        assert reply.startswith(b"HTTP/1.1 200 ")
        assert 0.8 < time.perf_counter() - t0 < 4.0
    with socket.create_connection((strict.host, strict.port), timeout=10) as s:
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: 100000\r\n\r\n{\"inputs\": [")
        reply = read_all(s)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b"the body arrived too slowly" in reply


class Slow(PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        time.sleep(1.5)
        return model_input


def test_a_slow_model_does_not_block_ping_and_times_out(tmp_path: Path) -> None:
    save_python_model(tmp_path / "slow", Slow())
    with ScoringServer(tmp_path / "slow", port=0, request_timeout=0.5) as srv:
        result: list[tuple[int, Any]] = []
        worker = threading.Thread(target=lambda: result.append(
            post(srv.host, srv.port, b'{"inputs": [[1, 2]]}')))
        worker.start()
        time.sleep(0.2)  # the prediction is under way
        assert ping_seconds(srv.host, srv.port) < 0.5
        worker.join(timeout=30)
    assert result[0][0] == 504
    assert "request_timeout" in result[0][1]["message"]


def test_a_100_mb_body_does_not_block_ping(model_dir: Path) -> None:
    """The body is read and parsed while /ping is answered promptly; a body over the limit
    gets 413 before it is read."""
    row = b'[0.1,0.2,0.3,0.4,"' + b"x" * 80 + b'"]'
    # Valid JSON that takes seconds to parse, then is refused (two format keys).
    body = b'{"instances": 1, "inputs": [' + b",".join([row] * 1_000_000) + b"]}"
    assert len(body) > 100_000_000
    with ScoringServer(model_dir, port=0) as srv:
        result: list[tuple[int, Any]] = []
        sender = threading.Thread(target=lambda: result.append(
            post(srv.host, srv.port, body, timeout=120)))
        sender.start()
        pings = []
        while sender.is_alive() and len(pings) < 200:
            pings.append(ping_seconds(srv.host, srv.port))
            time.sleep(0.05)
        sender.join(timeout=120)
        assert result[0][0] == 400
        assert "exactly one of the keys" in result[0][1]["message"]
        assert len(pings) >= 5, "the body was handled too fast to test anything"
        assert max(pings) < 1.0, pings
        with socket.create_connection((srv.host, srv.port), timeout=10) as s:
            s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/json\r\nContent-Length: %d\r\n\r\n" % (100 * 2**20 + 1))
            reply = read_all(s)
        assert reply.startswith(b"HTTP/1.1 413 ")
        assert b"the limit is 104857600" in reply


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deeply_nested_json_gets_a_400(strict: ScoringServer, depth: int) -> None:
    """Small bodies are decoded on the event loop, large ones in a worker: both refuse."""
    body = b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"
    status, reply = post(strict.host, strict.port, body)
    assert status == 400
    assert f"{depth + 1} levels deep; the limit is 64" in reply["message"]
    ok = b'{"inputs": [[0.1, 0.2, 0.3, 0.4]], "params": null}'
    assert post(strict.host, strict.port, ok)[0] == 200


CHILD = textwrap.dedent("""
    import logging, os, resource, sys
    from trackbook.models import ScoringServer
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    server = ScoringServer(sys.argv[1], port=0)
    open_fds = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_fds + 30, resource.getrlimit(
        resource.RLIMIT_NOFILE)[1]))
    print(server.port, flush=True)
    server.serve_forever()
""")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")
def test_out_of_file_descriptors_logs_a_few_lines_and_recovers(model_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(model_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    clients: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        for _ in range(80):  # more than the server can open: the rest wait in the backlog
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        time.sleep(3.0)  # the server is out of descriptors all this time
        assert proc.poll() is None
        for s in clients:
            s.close()
        clients.clear()
        deadline = time.monotonic() + 10
        while True:  # the server accepts again once descriptors are free
            try:
                assert ping_seconds("127.0.0.1", port, timeout=2) < 2.0
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        for s in clients:
            s.close()
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    lines = [line for line in err.splitlines() if line.strip()]
    assert any("cannot accept connections" in line for line in lines), err[-2000:]
    assert len(lines) <= 10, f"{len(lines)} log lines:\n" + "\n".join(lines[:20])


def test_cli_shows_and_applies_the_limits(model_dir: Path) -> None:
    shown = subprocess.run([sys.executable, "-m", "trackbook", "models", "serve", "--help"],
                           capture_output=True, text=True, check=True).stdout
    for flag in ("--header-timeout", "--body-timeout", "--min-body-rate",
                 "--keepalive-timeout", "--request-timeout", "--max-connections",
                 "--backlog", "--max-body-bytes", "--max-json-depth", "--workers"):
        assert flag in shown
    assert "default 127.0.0.1" in shown
    proc = subprocess.Popen([sys.executable, "-m", "trackbook", "models", "serve", "-m",
                             str(model_dir), "--port", "0", "--header-timeout", "0.5",
                             "--max-body-bytes", "100"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /ping HTTP/1.1\r\n")
            t0 = time.perf_counter()
            assert read_all(s).startswith(b"HTTP/1.1 408 ")
            assert time.perf_counter() - t0 < 3.0
        status, reply = post("127.0.0.1", port, b'{"inputs": [' + b"0," * 100 + b"0]}")
        assert status == 413
        assert "the limit is 100" in reply["message"]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
