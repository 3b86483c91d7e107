"""Worker side: workloads that write. Each returns timings measured inside the process.

The clock starts after the tool is imported and the experiment exists, and stops after
the last ``end_run`` returned: for trackbook that includes flushing (and compacting)
every buffered point, so what is timed is durable. Both tools run the same code.
"""

from __future__ import annotations

import os
import time
from typing import Any

from _tool import EXPERIMENT, experiment_id, load, metric_class, preload

N_PARAMS = 10
N_METRICS = 3
BATCH = 1000  # MLflow's log_batch accepts at most 1000 metrics per call


def _keys(n: int = N_METRICS) -> list[str]:
    return [f"m{j}" for j in range(n)]


def init_store(tool: str, store: str) -> dict[str, Any]:
    """Create an empty store holding the benchmark experiment (MLflow: runs migrations)."""
    ml = load(tool, store)
    return {"experiment_id": ml.set_experiment(EXPERIMENT).experiment_id}


def log_naive(tool: str, store: str, runs: int, steps: int) -> dict[str, Any]:
    """Workload 1: one ``log_param`` per param, one ``log_metric`` call per value."""
    preload(tool)
    ml = load(tool, store)
    experiment_id(ml)
    keys = _keys()
    t0 = time.perf_counter()
    for _ in range(runs):
        ml.start_run()
        for j in range(N_PARAMS):
            ml.log_param(f"p{j}", j)
        for s in range(steps):
            for j, key in enumerate(keys):
                ml.log_metric(key, s * 0.001 + j, step=s)
        ml.end_run()
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "points": runs * steps * len(keys), "runs": runs}


def log_steps(tool: str, store: str, runs: int, steps: int) -> dict[str, Any]:
    """Workload 2: ``log_params`` once, then one ``log_metrics(dict, step=s)`` per step."""
    preload(tool)
    ml = load(tool, store)
    experiment_id(ml)
    keys = _keys()
    t0 = time.perf_counter()
    for _ in range(runs):
        ml.start_run()
        ml.log_params({f"p{j}": j for j in range(N_PARAMS)})
        for s in range(steps):
            ml.log_metrics({key: s * 0.001 + j for j, key in enumerate(keys)}, step=s)
        ml.end_run()
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "points": runs * steps * len(keys), "runs": runs}


def create_runs(tool: str, store: str, n: int) -> dict[str, Any]:
    """Workload 3a: ``n`` runs, each with 10 params, 3 metrics and 3 tags.

    Run ``i`` has ``p0 = i % 10`` and ``m0 = i / n`` so that the search filter
    (``params.p0 = '3' and metrics.m0 > 0.5``) selects a known number of runs.
    """
    preload(tool)
    ml = load(tool, store)
    experiment_id(ml)
    t0 = time.perf_counter()
    for i in range(n):
        ml.start_run(run_name=f"run-{i}")
        ml.log_params({"p0": i % 10, **{f"p{j}": f"v{j}" for j in range(1, N_PARAMS)}})
        ml.log_metrics({"m0": i / n, "m1": (i * 7919) % n / n, "m2": float(i)})
        ml.set_tags({"t0": "bench", "t1": f"group-{i % 4}", "t2": str(i)})
        ml.end_run()
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "runs": n, "points": 3 * n}


def _log_curve(ml: Any, metric: Any, run_id: str, key: str, steps: int) -> None:
    client = ml.MlflowClient()
    ts = int(time.time() * 1000)
    for lo in range(0, steps, BATCH):
        batch = [metric(key, 1.0 / (s + 1), ts + s, s) for s in range(lo, min(steps, lo + BATCH))]
        client.log_batch(run_id, metrics=batch)


def write_history(tool: str, store: str, steps: int) -> dict[str, Any]:
    """Workload 4 (setup): one run with ``steps`` points of one metric, via ``log_batch``
    in chunks of 1000 (one ``log_metric`` per point would take MLflow minutes)."""
    preload(tool)
    ml = load(tool, store)
    experiment_id(ml)
    metric = metric_class(tool)
    t0 = time.perf_counter()
    run = ml.start_run()
    _log_curve(ml, metric, run.info.run_id, "loss", steps)
    ml.end_run()
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "points": steps, "runs": 1, "run_id": run.info.run_id}


def write_curves(tool: str, store: str, runs: int, steps: int) -> dict[str, Any]:
    """Workload 5 (setup): ``runs`` runs with a ``steps``-point learning curve each."""
    preload(tool)
    ml = load(tool, store)
    experiment_id(ml)
    metric = metric_class(tool)
    run_ids = []
    t0 = time.perf_counter()
    for i in range(runs):
        run = ml.start_run(run_name=f"curve-{i}")
        _log_curve(ml, metric, run.info.run_id, "loss", steps)
        ml.end_run()
        run_ids.append(run.info.run_id)
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "points": runs * steps, "runs": runs, "run_ids": run_ids}


def concurrent_writer(tool: str, store: str, steps: int, ready: str, go: str,
                      timeout: float = 300.0) -> dict[str, Any]:
    """Workload 6: one of several processes logging into the same store at once.

    Signals ``ready`` once imported, waits for ``go``, then runs workload 1's loop for
    one run. Errors are counted, not raised, so the total shows what was lost.
    """
    preload(tool)
    ml = load(tool, store)
    experiment_id(ml)
    keys = _keys()
    with open(ready, "w") as f:
        f.write(str(os.getpid()))
    deadline = time.monotonic() + timeout
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no go signal at {go} after {timeout} s")
        time.sleep(0.001)
    errors, first_error, logged = 0, None, 0
    t_start = time.time()
    try:
        ml.start_run()
        for j in range(N_PARAMS):
            ml.log_param(f"p{j}", j)
        for s in range(steps):
            for j, key in enumerate(keys):
                try:
                    ml.log_metric(key, s * 0.001 + j, step=s)
                    logged += 1
                except Exception as exc:
                    errors += 1
                    first_error = first_error or f"{type(exc).__name__}: {exc}"
        ml.end_run()
    except Exception as exc:
        errors += 1
        first_error = first_error or f"{type(exc).__name__}: {exc}"
    t_end = time.time()
    return {"t_start": t_start, "t_end": t_end, "logged": logged, "errors": errors,
            "first_error": first_error, "points": steps * len(keys)}
