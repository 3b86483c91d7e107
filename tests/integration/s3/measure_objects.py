"""Throughput of trackbook.store.objects against a local folder and a local SeaweedFS.

    .venv/bin/python tests/integration/s3/measure_objects.py [--n 500]

Not a test (pytest does not collect it): a measurement to put next to ``uptime``, for
sizing the store's move onto object storage (how many objects per flush, per refresh).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: s3server

from s3server import SeaweedS3
from trackbook.store.objects import LocalObjects, Objects, S3Objects


def rate(n: int, fn: Callable[[], object]) -> tuple[float, float]:
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    return n / dt, dt


def measure(name: str, objects: Objects, n: int) -> None:
    small = os.urandom(1024)
    big = os.urandom(8 << 20)

    def seq_put() -> None:
        for i in range(n):
            objects.put(f"seq/{i:012d}", small)

    def par_put() -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: objects.put(f"par/{i:012d}", small), range(n)))

    def cond_put() -> None:
        for i in range(n):
            objects.put_if_absent(f"cond/{i:012d}", small)

    def refresh() -> None:  # list what is new, then fetch it (16 threads)
        keys = [o.key for o in objects.list("par/")]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(objects.get, keys))

    rows = [("put 1 KiB, 1 thread", *rate(n, seq_put), "obj/s"),
            ("put 1 KiB, 8 threads", *rate(n, par_put), "obj/s"),
            ("put_if_absent 1 KiB, 1 thread", *rate(n, cond_put), "obj/s"),
            ("list (all pages)", *rate(n, lambda: sum(1 for _ in objects.list("par/"))),
             "keys/s"),
            ("list start_after (last 10%)", *rate(n // 10, lambda: list(objects.list(
                "par/", start_after=f"par/{n - n // 10 - 1:012d}"))), "keys/s"),
            ("list + get all, 16 threads", *rate(n, refresh), "obj/s"),
            ("put 8 MiB", *rate(8, lambda: objects.put("big", big)), "MiB/s"),
            ("get 8 MiB", *rate(8, lambda: objects.get("big")), "MiB/s")]
    for what, value, seconds, unit in rows:
        print(f"{name:6} {what:32} {value:10,.0f} {unit:7} ({seconds * 1000:,.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="objects per measurement")
    n = parser.parse_args().n
    print("load:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="measure-objects-") as tmp, \
            SeaweedS3(tmp) as server:
        print(f"SeaweedFS ready in {server.startup_seconds:.1f} s")
        os.environ.update(server.env())
        measure("local", LocalObjects(Path(tmp) / "local"), n)
        measure("s3", S3Objects(f"s3://{server.bucket}/m-{uuid.uuid4().hex[:8]}"), n)
    print("load:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
