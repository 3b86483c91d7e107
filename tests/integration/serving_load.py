"""Load generator for scoring servers: N keep-alive clients POST one body for S seconds.

Run it as a separate process so the clients do not share the server's CPU time slices or
GIL::

    python tests/integration/serving_load.py URL [--clients 4] [--seconds 3] [--warmup 1]
                                                 [--body JSON] [--expect JSON]

Each client is one HTTP/1.1 keep-alive connection with one request in flight: it sends
the next request as soon as the previous response is complete, like a real client in a
loop. The clients are driven by one thread over non-blocking sockets (``selectors``), so
the generator's own cost per request is a few tens of microseconds and no GIL hand-offs
between client threads slow it down. Every response is read whole; one that is not a
200 with the expected JSON body (``--expect``; by default any 200) counts as an error.

It prints one JSON line: requests, errors, seconds, requests_per_second, p50_ms, p99_ms
and first_error. :func:`measure` runs this script in a subprocess and returns that dict.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlparse

ONE_ROW = json.dumps({"dataframe_split": {"columns": ["a", "b", "c", "d"],
                                          "data": [[0.1, 0.2, 0.3, 0.4]]}})


def request_bytes(host: str, port: int, body: bytes, path: str = "/invocations") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


class _Checker:
    """Decides whether a response is right; remembers the verdict per distinct body."""

    def __init__(self, expect: Any) -> None:
        self.expect = expect
        self.verdicts: dict[bytes, bool] = {}
        self.first_error = ""

    def ok(self, status: int, body: bytes) -> bool:
        if status == 200:
            good = self.verdicts.get(body)
            if good is None:
                try:
                    good = self.expect is None or json.loads(body) == self.expect
                except ValueError:
                    good = False
                if len(self.verdicts) < 1000:
                    self.verdicts[body] = good
            if good:
                return True
        if not self.first_error:
            self.first_error = f"{status}: {body[:300].decode('utf-8', 'replace')}"
        return False


def _response(buf: bytearray) -> tuple[int, bytes] | None:
    """Take one complete response off ``buf``: ``(status, body)``, or None if partial."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        raise ConnectionError(f"response without Content-Length: {head[:200]!r}")
    stop = head.find(b"\r\n", at + 2)
    length = int(head[at + 17:stop if stop > 0 else len(head)])
    total = end + 4 + length
    if len(buf) < total:
        return None
    status = int(head[9:12])
    body = bytes(buf[end + 4:total])
    del buf[:total]
    return status, body


def run(url: str, body: str, clients: int, seconds: float, warmup: float = 0.0,
        expect: Any = None) -> dict[str, Any]:
    """Drive ``clients`` keep-alive connections for ``warmup`` + ``seconds``; measure the
    last ``seconds`` (requests sent then, and answered)."""
    target = urlparse(url)
    host, port = target.hostname or "127.0.0.1", int(target.port or 80)
    payload = request_bytes(host, port, body.encode())
    check = _Checker(expect)
    sel = selectors.DefaultSelector()
    socks, bufs, sent_at = [], [], []
    for i in range(clients):
        sock = socket.create_connection((host, port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, i)
        socks.append(sock)
        bufs.append(bytearray())
        sent_at.append(0.0)
    latencies: list[float] = []
    errors = 0
    now = time.perf_counter()
    measure_from = now + warmup
    stop_at = measure_from + seconds
    last = now
    in_flight = clients
    for i, sock in enumerate(socks):
        sent_at[i] = time.perf_counter()
        sock.sendall(payload)
    while in_flight:
        events = sel.select(timeout=30)
        if not events:
            raise TimeoutError(f"no response from {url} in 30 s")
        for key, _ in events:
            i = key.data
            sock = socks[i]
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{url} closed a connection")
            buf = bufs[i]
            buf += chunk
            got = _response(buf)
            if got is None:
                continue
            last = time.perf_counter()
            if sent_at[i] >= measure_from:
                latencies.append(last - sent_at[i])
                if not check.ok(*got):
                    errors += 1
            elif not check.ok(*got):  # warm-up: a failing server fails the run too
                errors += 1
            if last < stop_at:
                sent_at[i] = last
                sock.sendall(payload)  # one small request: fits the socket buffer
            else:
                in_flight -= 1
    for sock in socks:
        sel.unregister(sock)
        sock.close()
    elapsed = max(last, stop_at) - measure_from if latencies else seconds
    flat = sorted(latencies)
    n = len(flat)
    return {"requests": n, "errors": errors, "seconds": round(elapsed, 3),
            "requests_per_second": round(n / elapsed, 1) if elapsed > 0 else 0.0,
            "p50_ms": round(flat[n // 2] * 1000, 3) if flat else 0.0,
            "p99_ms": round(flat[max(0, int(n * 0.99) - 1)] * 1000, 3) if flat else 0.0,
            "first_error": check.first_error}


def measure(url: str, body: str = ONE_ROW, clients: int = 4, seconds: float = 2.0,
            warmup: float = 0.5, expect: Any = None,
            python: str = sys.executable) -> dict[str, Any]:
    """Run this script in a subprocess against ``url``; return its result."""
    cmd = [python, __file__, url, "--clients", str(clients), "--seconds", str(seconds),
           "--warmup", str(warmup), "--body", body]
    if expect is not None:
        cmd += ["--expect", json.dumps(expect)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + warmup + 90,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5,
                        help="seconds of load before measuring (default 0.5)")
    parser.add_argument("--body", default=ONE_ROW)
    parser.add_argument("--expect", type=json.loads, default=None,
                        help="the JSON every response must equal (default: any 200)")
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.body, args.clients, args.seconds, args.warmup,
                         args.expect)))


if __name__ == "__main__":
    main()
