"""Load generator for the scoring server: N keep-alive clients POST one body for S seconds.

Run it as a separate process so the clients do not share the server's GIL::

    python tests/integration/serving_load.py URL [--clients 4] [--seconds 3] [--body JSON]

It prints one JSON line: requests, errors, seconds, requests_per_second, p50_ms, p99_ms.
``measure_requests_per_second`` starts a model server in-process and this script beside it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

ONE_ROW = json.dumps({"dataframe_split": {"columns": ["a", "b", "c", "d"],
                                          "data": [[0.1, 0.2, 0.3, 0.4]]}})


def run(url: str, body: str, clients: int, seconds: float) -> dict[str, float]:
    target = urlparse(url)
    payload = body.encode()
    headers = {"Content-Type": "application/json"}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop_at = time.perf_counter() + seconds
    start = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        start.wait()
        mine = latencies[i]
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            conn.request("POST", "/invocations", payload, headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors[i] += 1
            mine.append(time.perf_counter() - t0)
        conn.close()

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
