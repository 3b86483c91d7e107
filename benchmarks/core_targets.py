"""Issue 2's speed targets, trackbook alone: .venv/bin/python benchmarks/core_targets.py

Prints medians for a log_metric loop, run creation, search over 10,000 runs, a
100,000-point history and import time, with the machine's load average (other work on a
2-core machine roughly halves these numbers).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

os.environ["TRACKBOOK_STORE"] = tempfile.mkdtemp(prefix="tb-core-targets-")
import trackbook as tb  # after choosing the store

IMPORT = "import time; t = time.perf_counter(); import trackbook; print(time.perf_counter() - t)"


def median_seconds(fn: Callable[[], object], reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def loop(points: int = 300_000) -> None:
    with tb.start_run():
        for i in range(points):
            tb.log_metric("loss", 0.5, step=i)


def main() -> None:
    tb.set_experiment("loop")
    print(f"log_metric loop, durable: {300_000 / median_seconds(loop, 3):,.0f} points/s")
    tb.set_experiment("many")
    t0 = time.perf_counter()
    for i in range(10_000):
        with tb.start_run(run_name=f"r{i}"):
            tb.log_params({"lr": i / 1e4, "depth": i % 10})
            tb.log_metrics({"auc": i / 1e4, "loss": 1 - i / 1e4})
    print(f"create 10k runs: {10_000 / (time.perf_counter() - t0):,.0f} runs/s")
    t0 = time.perf_counter()
    tb.search_runs()
    print(f"first search (indexes 10k new runs): {time.perf_counter() - t0:.3f} s")
    print(f"search_runs over 10k runs, warm: {median_seconds(tb.search_runs):.3f} s")
    filtered = median_seconds(lambda: tb.search_runs(
        filter_string="metrics.auc > 0.5 and params.depth = '3'", order_by=["metrics.auc DESC"]))
    print(f"search_runs filter + order_by, warm: {filtered:.3f} s")
    tb.set_experiment("history")
    with tb.start_run() as run:
        for i in range(100_000):
            tb.log_metric("loss", 1.0 / (i + 1), step=i)
    client = tb.Client()
    hist = median_seconds(lambda: client.get_metric_history(run.info.run_id, "loss"))
    print(f"get_metric_history, 100k points: {hist * 1e3:.1f} ms")
    as_list = median_seconds(lambda: list(client.get_metric_history(run.info.run_id, "loss")))
    print(f"  ... as a list of Metric: {as_list * 1e3:.1f} ms")
    imports = [float(subprocess.run([sys.executable, "-c", IMPORT], capture_output=True,
                                    text=True, check=True).stdout) for _ in range(5)]
    print(f"import trackbook: {statistics.median(imports) * 1e3:.1f} ms")
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
