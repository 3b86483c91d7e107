"""Harness side: workloads on a written store: 3 (runs, search), 4 + 8 (history, bytes)
and 5 (learning curves).

Each store is written once per tool and kept pristine; every reader gets a fresh copy
of it, so each repetition's first query is the first one after writing.
"""

from __future__ import annotations

from pathlib import Path

from _config import TARGET_BYTES, TARGET_CREATE, TARGET_QUERY
from _harness import du, largest_files
from _report import Row
from _suite import Ctx
from wl_read import SEARCH_FILTER, SEARCH_ORDER, expected_filter_hits


def _create(ctx: Ctx, n: int) -> tuple[Row, dict[str, Path]]:
    """Run creation at size ``n`` (MLflow capped); returns pristine ``n``-run stores."""
    ml_n = min(n, ctx.cfg.ml_create_cap)
    note = ""
    if "mlflow" in ctx.tools and ml_n != n:
        note = f"MLflow measured at {ml_n:,} runs; rate extrapolated."
    row = Row("3", f"create {n:,} runs (10 params, 3 metrics, 3 tags each)", "runs/s", True,
              TARGET_CREATE, note=note)
    pristine: dict[str, Path] = {}
    for rep in range(ctx.cfg.reps):
        for tool in ctx.order(rep):
            size = ml_n if tool == "mlflow" else n
            store = ctx.runner.fresh_store(tool, f"w3-create-{size}")
            res = ctx.runner.call(tool, "create_runs", store, n=size)
            if size == n and tool not in pristine:
                pristine[tool] = ctx.runner.copy_store(tool, store, f"w3-pristine-{n}")
            got = ctx.count(tool, store)
            ctx.fact(row, tool, "runs", size, got["runs"])
            ctx.fact(row, tool, "points", 3 * size, got["points"])
            row.add(tool, size / res["elapsed"])
            ctx.progress(row, rep, tool, size / res["elapsed"], f" ({res['elapsed']:.2f} s)")
            ctx.runner.discard(store)
    for tool in ctx.tools:
        if tool not in pristine:
            print(f"  [3] building {tool}'s {n:,}-run store for the searches (not timed)",
                  flush=True)
            store = ctx.runner.fresh_store(tool, f"w3-pristine-{n}")
            res = ctx.runner.call(tool, "create_runs", store, n=n)
            print(f"  [3] ... {n / res['elapsed']:,.0f} runs/s", flush=True)
            pristine[tool] = store
    return row, pristine


def w3_runs(ctx: Ctx) -> list[Row]:
    rows: list[Row] = []
    for n in ctx.cfg.create_sizes:
        create, pristine = _create(ctx, n)
        rows.append(create)
        hits = expected_filter_hits(n)
        search = {
            ("all", "first"): Row("3", f"search_runs all {n:,} runs, first query after writing",
                                  "s", False, TARGET_QUERY),
            ("all", "warm"): Row("3", f"search_runs all {n:,} runs, warm (2nd query)", "s",
                                 False, TARGET_QUERY),
            ("filter", "first"): Row("3", f"search_runs filter + order_by ({hits:,} of {n:,}), "
                                     "first query", "s", False, TARGET_QUERY,
                                     note=f"filter {SEARCH_FILTER!r}, order_by {SEARCH_ORDER}"),
            ("filter", "warm"): Row("3", f"search_runs filter + order_by ({hits:,} of {n:,}), "
                                    "warm", "s", False, TARGET_QUERY),
        }
        for rep in range(ctx.cfg.reps):
            for tool in ctx.order(rep):
                copies = [ctx.runner.copy_store(tool, pristine[tool], f"w3-search-{n}")
                          for _ in range(2)]
                out = ctx.runner.call(tool, "search", copies[0], filter_store=str(copies[1]))
                for kind, res in out.items():
                    first, warm = search[(kind, "first")], search[(kind, "warm")]
                    want = n if kind == "all" else hits
                    ctx.fact(first, tool, "runs returned", want, res["n"])
                    ctx.fact(warm, tool, "runs returned", want, res["n_warm"])
                    if kind == "filter":
                        ctx.fact(first, tool, "sorted by metrics.m1 DESC", True, res["ordered"])
                    first.add(tool, res["first"])
                    warm.add(tool, res["warm"])
                    ctx.progress(first, rep, tool, res["first"])
                    ctx.progress(warm, rep, tool, res["warm"])
                ctx.runner.discard(*copies)
        rows += list(search.values())
        ctx.runner.discard(*pristine.values())
    return rows


def w4_history(ctx: Ctx) -> list[Row]:
    """Workload 4 (one long history) and 8 (store bytes per point of that store)."""
    steps = ctx.cfg.history_steps
    write = Row("4", f"write 1 run x {steps:,} steps via log_batch (setup, one sample)",
                "points/s", True, None)
    first = Row("4", f"get_metric_history of {steps:,} points, first read", "s", False,
                TARGET_QUERY, note="Includes materializing the result as a list of Metric "
                "objects (MLflow's return type; trackbook's is lazy).")
    warm = Row("4", f"get_metric_history of {steps:,} points, warm", "s", False, TARGET_QUERY)
    call = Row("4", f"get_metric_history of {steps:,} points, first read, call alone", "s",
               False, None, note="Not materialized: trackbook's result is lazy (arrays), "
               "MLflow's is already a list. Information only.")
    size = Row("8", "store bytes per point after workload 4 (du)", "B/point", False,
               TARGET_BYTES)
    indexed = Row("8", "store bytes per point once queried (trackbook builds its index)",
                  "B/point", False, TARGET_BYTES)
    pristine: dict[str, tuple[Path, str]] = {}
    for tool in ctx.order(0):
        store = ctx.runner.fresh_store(tool, "w4")
        res = ctx.runner.call(tool, "write_history", store, steps=steps)
        write.add(tool, steps / res["elapsed"])
        ctx.progress(write, 0, tool, steps / res["elapsed"])
        pristine[tool] = (store, res["run_id"])
    for rep in range(ctx.cfg.reps):
        for tool in ctx.order(rep):
            src, run_id = pristine[tool]
            store = ctx.runner.copy_store(tool, src, "w4-read")
            res = ctx.runner.call(tool, "read_history", store, run_id=run_id)
            ctx.fact(first, tool, "points read", steps, res["n"])
            ctx.fact(first, tool, "last step", steps - 1, res["last_step"])
            ctx.fact(warm, tool, "points read", steps, res["n_warm"])
            first.add(tool, res["first"])
            warm.add(tool, res["warm"])
            call.add(tool, res["first_call_only"])
            ctx.progress(first, rep, tool, res["first"],
                         f" (call alone {res['first_call_only'] * 1000:.1f} ms)")
            if rep == 0:
                size.add(tool, du(store) / steps)
            ctx.runner.discard(store)
    notes = []
    for tool in ctx.tools:
        src, _ = pristine[tool]
        got = ctx.count(tool, src)
        ctx.fact(indexed, tool, "points", steps, got["points"])
        indexed.add(tool, du(src) / steps)
        files = ", ".join(f"{name} {b / 1024:,.0f} KiB" for name, b in largest_files(src))
        notes.append(f"{tool}: {files}")
        ctx.runner.discard(src)
    indexed.note = "Largest files: " + "; ".join(notes) + "."
    return [write, first, warm, call, size, indexed]


def w5_curves(ctx: Ctx) -> list[Row]:
    runs, steps = ctx.cfg.curve_runs, ctx.cfg.curve_steps
    label = f"{runs:,} runs x {steps:,} steps, get_metric_history per run"
    first = Row("5", f"learning curves: {label}, first read", "s", False, TARGET_QUERY,
                note="No target was set for 5; workload 4's is applied.")
    warm = Row("5", f"learning curves: {label}, warm", "s", False, TARGET_QUERY)
    pristine: dict[str, tuple[Path, list[str]]] = {}
    for tool in ctx.order(0):
        store = ctx.runner.fresh_store(tool, "w5")
        res = ctx.runner.call(tool, "write_curves", store, runs=runs, steps=steps)
        print(f"  [5] {tool} wrote {runs * steps:,} points in {res['elapsed']:.2f} s (setup)",
              flush=True)
        pristine[tool] = (store, res["run_ids"])
    for rep in range(ctx.cfg.reps):
        for tool in ctx.order(rep):
            src, run_ids = pristine[tool]
            store = ctx.runner.copy_store(tool, src, "w5-read")
            res = ctx.runner.call(tool, "read_curves", store, run_ids=run_ids)
            ctx.fact(first, tool, "points read", runs * steps, res["n"])
            ctx.fact(warm, tool, "points read", runs * steps, res["n_warm"])
            first.add(tool, res["first"])
            warm.add(tool, res["warm"])
            ctx.progress(first, rep, tool, res["first"])
            ctx.runner.discard(store)
    ctx.runner.discard(*(s for s, _ in pristine.values()))
    return [first, warm]
