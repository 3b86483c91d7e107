"""Harness side: workload 9, serving a small scikit-learn model over HTTP.

Both tools serve the same model folder (saved once, in MLflow's format) from their own
interpreter, as one process each: ``trackbook models serve`` and ``mlflow models serve
--env-manager local`` (FastAPI on uvicorn, one worker: MLflow's default). The same load
generator (``tests/integration/serving_load.py``, a separate process: N keep-alive
connections, each with one single-row JSON request in flight) warms a server up, then
measures it for a fixed time. Every response must be a 200 carrying the expected
prediction; any other counts as an error and fails the row. Each repetition starts a
fresh server; the tool order alternates.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from _config import SERVE_FLOOR
from _harness import HERE, BenchError
from _report import Row, fmt_value
from _suite import Ctx
from wl_serve import request_body

LOADGEN = HERE.parent / "tests" / "integration" / "serving_load.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(python: str, tool: str, model: str, port: int) -> list[str]:
    if tool == "trackbook":
        return [python, "-m", "trackbook", "models", "serve", "-m", model, "--port", str(port),
                "--host", "127.0.0.1"]
    return [python, "-m", "mlflow", "models", "serve", "-m", model, "--env-manager", "local",
            "-p", str(port), "-h", "127.0.0.1"]


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except OSError:
        return ""


class _Server:
    """One scoring server process (its own session: MLflow's CLI starts uvicorn as a
    child), stopped with its whole process group."""

    def __init__(self, ctx: Ctx, tool: str, model: str, folder: Path) -> None:
        self.tool = tool
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"{tool}-server-{self.port}.log"
        python = ctx.runner.pythons[tool]
        # MLflow's CLI runs `uvicorn` from PATH: the venv's bin folder comes first.
        env = dict(ctx.runner.env, PATH=os.pathsep.join(
            [os.path.dirname(python), ctx.runner.env.get("PATH", "")]))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                _command(python, tool, model, self.port), cwd=folder, env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Seconds until ``GET /ping`` answers 200."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.tool} server exited with {self.proc.returncode}:\n"
                                 f"{_tail(self.log)}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.tool} server not ready after {timeout:.0f} s:\n"
                         f"{_tail(self.log)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            except ProcessLookupError:
                pass


def _load(url: str, clients: int, seconds: float, warmup: float,
          expect: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, str(LOADGEN), url, "--clients", str(clients), "--seconds",
           str(seconds), "--warmup", str(warmup), "--body", request_body(), "--expect",
           json.dumps(expect)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + warmup + 120,
                          check=False)
    if proc.returncode != 0:
        raise BenchError(f"load generator failed against {url}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def w9_serving(ctx: Ctx) -> list[Row]:
    c = ctx.cfg
    rate = Row("9", f"serve a small sklearn model: single-row JSON /invocations, "
               f"{c.serve_clients} keep-alive clients", "req/s", True, None, floor=SERVE_FLOOR)
    p50 = Row("9", "serving: median latency per request", "s", False, None)
    start = Row("9", "serving: server start to first /ping answered", "s", False, None)
    maker = "trackbook" if "trackbook" in ctx.tools else "mlflow"
    folder = ctx.runner.new_dir(maker, "w9")
    saved = ctx.runner.call(maker, "save_model", folder)
    loads: dict[str, list[float]] = {}
    for rep in range(c.reps):
        for tool in ctx.order(rep):
            server = _Server(ctx, tool, saved["path"], folder)
            try:
                start.add(tool, server.wait_ready())
                loads.setdefault(tool, []).append(os.getloadavg()[0])
                res = _load(server.url, c.serve_clients, c.serve_seconds, c.serve_warmup,
                            saved["expect"])
            finally:
                server.stop()
            ctx.fact(rate, tool, "wrong or failed responses", 0, res["errors"])
            ctx.fact(rate, tool, "answered some requests", True, res["requests"] > 0)
            rate.add(tool, res["requests_per_second"])
            p50.add(tool, res["p50_ms"] / 1000)
            ctx.progress(rate, rep, tool, res["requests_per_second"],
                         f" (p50 {res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms, "
                         f"errors {res['errors']}"
                         + (f": {res['first_error']}" if res["first_error"] else "") + ")")
    rate.note = (f"Target: trackbook >= {fmt_value(SERVE_FLOOR, 'req/s')} (issue 5), not a "
                 f"ratio. Same model folder; {c.serve_warmup:g} s warm-up, then "
                 f"{c.serve_seconds:g} s measured; every response checked. Load average "
                 "(1 min) at each measurement: " + "; ".join(
                     f"{t} " + ", ".join(f"{x:.1f}" for x in v) for t, v in sorted(loads.items()))
                 + ".")
    ctx.runner.discard(folder)
    return [rate, p50, start]
