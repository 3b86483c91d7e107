"""The scoring server for real: start, request over TCP, stop; concurrent clients; every
accepted format; bad requests get a 4xx with a message that says what is wrong."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import serving_load
from sklearn.linear_model import LogisticRegression

import trackbook as tb
from trackbook.models import ScoringServer
from trackbook.models import sklearn as tsk
from trackbook.models.pyfunc import PythonModel
from trackbook.models.pyfunc import save_model as save_python_model

COLUMNS = ["a", "b", "c", "d"]


def _data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.random((n, 4)), columns=COLUMNS)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    X = _data(300)
    model = LogisticRegression().fit(X, (X["a"] + X["b"] > 1).astype(int))
    path = tmp_path_factory.mktemp("serving") / "model"
    tsk.save_model(model, path, input_example=X[:2])
    return path, model


@pytest.fixture
def server(model_dir) -> Iterator[ScoringServer]:
    with ScoringServer(model_dir[0], port=0) as srv:
        yield srv


def request(server: ScoringServer, method: str, path: str, body: Any = None,
            content_type: str = "application/json",
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    data = body if isinstance(body, (bytes, type(None))) else (
        body.encode() if isinstance(body, str) else json.dumps(body).encode())
    conn.request(method, path, data, {"Content-Type": content_type, **(headers or {})})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw.decode()


def test_health_version_and_unknown_paths(server: ScoringServer) -> None:
    assert server.host == "127.0.0.1"
    assert request(server, "GET", "/ping")[0] == 200
    assert request(server, "GET", "/health")[0] == 200
    assert request(server, "GET", "/version") == (200, tb.__version__)
    status, body = request(server, "GET", "/nope")
    assert status == 404
    assert "/invocations" in body["message"]
    assert request(server, "GET", "/invocations")[0] == 405


def test_every_input_format_scores_the_same(server: ScoringServer, model_dir) -> None:
    X = _data(5, seed=1)
    want = model_dir[1].predict(X).tolist()
    bodies = [
        {"dataframe_split": X.to_dict(orient="split", index=False)},
        {"dataframe_records": X.to_dict(orient="records")},
        {"instances": X.to_dict(orient="records")},
        {"inputs": X.to_dict(orient="list")},
        {"inputs": X.to_numpy().tolist()},
    ]
    for body in bodies:
        assert request(server, "POST", "/invocations", body) == (200, {"predictions": want})
    assert request(server, "POST", "/invocations", bodies[0],
                   "application/json; charset=UTF-8") == (200, {"predictions": want})
    csv = X.to_csv(index=False)
    assert request(server, "POST", "/invocations", csv, "text/csv") == (
        200, {"predictions": want})


@pytest.mark.parametrize(("body", "content_type", "status", "message"), [
    ("{oops", "application/json", 400, "not valid JSON"),
    ({"data": [[1, 2, 3, 4]]}, "application/json", 400, "exactly one of the keys"),
    ({"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}},
     "application/json", 400, r"missing column\(s\) 'd' \(double\)"),
    ({"dataframe_records": [{"a": "x", "b": 1, "c": 1, "d": 1}]}, "application/json", 400,
     "column 'a': expected double, got .*'x'"),
    ({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3, 4]]}, "params": {"k": 1}},
     "application/json", 400, "declares no params"),
    ("a,b\n1,2\n", "text/plain", 415, "Content-Type 'text/plain' is not supported"),
    ("{}", "application/json; charset=latin-1", 415, "charset 'latin-1'"),
    ({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3, 4]]}},
     "application/json; charset=latin-1", 415, "charset 'latin-1'"),
])
def test_bad_requests_get_a_4xx_that_explains(server, body, content_type, status,
                                              message) -> None:
    got, reply = request(server, "POST", "/invocations", body, content_type)
    assert got == status
    assert reply["error_code"] == "BAD_REQUEST"
    assert re.search(message, reply["message"])


def test_protocol_errors(model_dir) -> None:
    with ScoringServer(model_dir[0], port=0, max_body_bytes=1000) as srv:
        status, reply = request(srv, "POST", "/invocations", "x" * 2000)
        assert status == 413
        assert "limit is 1000" in reply["message"]
        with socket.create_connection((srv.host, srv.port), timeout=10) as s:
            s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            assert b"411 Length Required" in s.recv(4096)
        assert request(srv, "GET", "/ping")[0] == 200  # still serving


def test_keep_alive_and_pipelined_requests_are_answered_in_order(server) -> None:
    one = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[0, 0, 0, 0]]}})
    req = (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(one)}\r\n\r\n{one}").encode()
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(req + b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n" + req)
        data = b""
        while data.count(b"HTTP/1.1 200") < 3:
            chunk = s.recv(65536)
            assert chunk, f"connection closed early: {data!r}"
            data += chunk
    parts = data.split(b"HTTP/1.1 200 OK")
    assert b"predictions" in parts[1]
    assert tb.__version__.encode() in parts[2]
    assert b"predictions" in parts[3]


def test_a_body_larger_than_one_read(server, model_dir) -> None:
    X = _data(5000, seed=3)  # ~400 KB of JSON: many 64 KiB reads
    body = {"dataframe_split": X.to_dict(orient="split", index=False)}
    assert len(json.dumps(body)) > 300_000
    assert request(server, "POST", "/invocations", body) == (
        200, {"predictions": model_dir[1].predict(X).tolist()})


def test_concurrent_clients_each_get_their_own_predictions(server, model_dir) -> None:
    """Requests scored together in one batch must come back to the right client."""
    errors: list[str] = []

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        for j in range(40):
            X = _data(1 + (i + j) % 3, seed=1000 * i + j)
            body = json.dumps({"dataframe_split": X.to_dict(orient="split", index=False)})
            if i == 0 and j % 10 == 5:  # a bad request inside the stream of batches
                body = json.dumps({"dataframe_split": {"columns": COLUMNS,
                                                       "data": [["x", 1, 1, 1]]}})
            conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            reply = json.loads(resp.read())
            if i == 0 and j % 10 == 5:
                if resp.status != 400 or "column 'a'" not in reply["message"]:
                    errors.append(f"bad request got {resp.status}: {reply}")
            elif reply != {"predictions": model_dir[1].predict(X).tolist()}:
                errors.append(f"client {i} request {j} got {reply}")
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []


def test_throughput_with_concurrent_keep_alive_clients(server, model_dir) -> None:
    """Measured from a separate process, every response checked; the issue's target
    (2,000/s) is measured in `make bench`, so the assertion here only guards against a
    collapse."""
    row = json.loads(serving_load.ONE_ROW)["dataframe_split"]
    want = model_dir[1].predict(pd.DataFrame(row["data"], columns=row["columns"])).tolist()
    result = serving_load.measure(server.url, clients=4, seconds=2.0,
                                  expect={"predictions": want})
    print(f"\nserving throughput, 4 clients, single-row JSON: {result}")
    assert result["errors"] == 0
    assert result["requests_per_second"] > 100


class Echo(PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * (params or {}).get("times", 1)


def test_a_python_model_with_tensors_and_params(tmp_path: Path) -> None:
    sig = tb.models.infer_signature(np.zeros((2, 3)), np.zeros((2, 3)), params={"times": 1})
    save_python_model(tmp_path / "m", Echo(), signature=sig, code_paths=[__file__])
    with ScoringServer(tmp_path / "m", port=0) as srv:
        status, reply = request(srv, "POST", "/invocations",
                                {"inputs": [[1, 2, 3]], "params": {"times": 2}})
        assert (status, reply) == (200, {"predictions": [[2.0, 4.0, 6.0]]})
        status, reply = request(srv, "POST", "/invocations", {"inputs": [[1, 2]]})
        assert status == 400
        assert "expected shape (-1, 3)" in reply["message"]


def test_cli_serves_until_interrupted(model_dir) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "trackbook", "models", "serve", "-m",
                             str(model_dir[0]), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        line = proc.stdout.readline()  # "Serving ... at http://127.0.0.1:PORT (Ctrl-C ...)"
        assert "http://127.0.0.1:" in line, proc.stderr.read()
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/invocations", json.dumps({"inputs": [[0.1, 0.2, 0.3, 0.4]]}),
                     {"Content-Type": "application/json"})
        assert json.loads(conn.getresponse().read())["predictions"] in ([0], [1])
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()
        proc.stderr.close()
