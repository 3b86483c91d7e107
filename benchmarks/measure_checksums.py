"""Cost of Parquet page checksums (writing, verified reading) and of the once-per-process
probe of metric files before SQL reads them.

Run: ``PYTHONPATH=src python benchmarks/measure_checksums.py`` (best of 5).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow.parquet as pq

from trackbook.store import damaged, metrics


def _best(f: Callable[[], Any], k: int = 5) -> float:
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    d = tempfile.mkdtemp()
    small = metrics.build_table("r" * 32, [("loss", float(i), i, 1_700_000_000_000 + i)
                                           for i in range(1000)])
    paths = [f"{d}/c-w-{i:06d}.parquet" for i in range(200)]
    for check in (False, True):
        def write(check: bool = check) -> None:
            for p in paths:
                pq.write_table(small, p, compression="none", use_dictionary=False,
                               write_page_checksum=check)
        print(f"write a 1,000-point chunk, checksums {check}: "
              f"{_best(write) * 1000 / len(paths):.3f} ms")
    for verify in (False, True):
        def read(verify: bool = verify) -> None:
            for p in paths:
                pq.ParquetFile(p, page_checksum_verification=verify).read()
        print(f"read a 1,000-point chunk, verified {verify}: "
              f"{_best(read) * 1000 / len(paths):.3f} ms")
    con = duckdb.connect()

    def first_sight() -> None:
        damaged.forget()
        damaged.usable(paths, con)
    print(f"probe before SQL, first sight: {_best(first_sight) * 1000 / len(paths):.3f} ms "
          "per chunk")
    print(f"probe before SQL, seen before: "
          f"{_best(lambda: damaged.usable(paths, con)) * 1e6 / len(paths):.1f} us per chunk")
    scan = _best(lambda: con.read_parquet(paths).aggregate("sum(value)").fetchall())
    print(f"DuckDB scan, for scale: {scan * 1000 / len(paths):.3f} ms per chunk")


if __name__ == "__main__":
    main()
