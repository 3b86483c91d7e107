"""Load generator for the scoring server: N keep-alive clients POST one body for S seconds.

Run it as a separate process so the clients do not share the server's GIL::

    python tests/integration/serving_load.py URL [--clients 4] [--seconds 3] [--body JSON]

It prints one JSON line: requests, errors, seconds, requests_per_second, p50_ms, p99_ms.
``measure_requests_per_second`` starts a model server in-process and this script beside it.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

ONE_ROW = json.dumps({"dataframe_split": {"columns": ["a", "b", "c", "d"],
                                          "data": [[0.1, 0.2, 0.3, 0.4]]}})


def _request_bytes(host: str, port: int, body: bytes) -> bytes:
    return (f"POST /invocations HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def _read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read one response from ``sock`` (keep-alive, Content-Length); return its status."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buf[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            total = end + 4 + length
            while len(buf) < total:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                buf += chunk
            del buf[:total]
            return int(head.split(" ", 2)[1])
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk


def run(url: str, body: str, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` threads, each with one keep-alive connection and one request in flight.

    Raw sockets with minimal parsing keep the load generator's own CPU use small (it
    shares the machine with the server); responses are still read completely.
    """
    target = urlparse(url)
    host, port = target.hostname or "127.0.0.1", int(target.port or 80)
    payload = _request_bytes(host, port, body.encode())
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop_at = time.perf_counter() + seconds
    start = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        sock = socket.create_connection((host, port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        start.wait()
        mine = latencies[i]
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            sock.sendall(payload)
            if _read_response(sock, buf) != 200:
                errors[i] += 1
            mine.append(time.perf_counter() - t0)
        sock.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    flat = sorted(x for lat in latencies for x in lat)
    n = len(flat)
    return {"requests": n, "errors": sum(errors), "seconds": round(elapsed, 3),
            "requests_per_second": round(n / elapsed, 1),
            "p50_ms": round(statistics.median(flat) * 1000, 3) if flat else 0.0,
            "p99_ms": round(flat[int(n * 0.99) - 1] * 1000, 3) if flat else 0.0}


def measure(url: str, body: str = ONE_ROW, clients: int = 4,
            seconds: float = 2.0) -> dict[str, float]:
    """Run this script in a subprocess against ``url``; return its result."""
    out = subprocess.run([sys.executable, __file__, url, "--clients", str(clients),
                          "--seconds", str(seconds), "--body", body],
                         capture_output=True, text=True, timeout=seconds + 60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--body", default=ONE_ROW)
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.body, args.clients, args.seconds)))


if __name__ == "__main__":
    main()
