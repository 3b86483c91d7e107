"""Harness side: the shared context, and workloads 1, 2, 6 (logging) and 7 (import)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _config import TARGET_IMPORT, TARGET_POINTS, Config
from _harness import BenchError, Runner
from _report import Row, fmt_value


@dataclass
class Ctx:
    """What every workload needs: the runner, the sizes, and the record of checks."""

    runner: Runner
    cfg: Config
    facts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tools(self) -> list[str]:
        return self.runner.tools

    def order(self, rep: int) -> list[str]:
        return self.runner.order(rep)

    def fact(self, row: Row, tool: str, what: str, expected: Any, got: Any,
             strict: bool = True) -> None:
        """Record a count check; a mismatch marks ``row`` failed when ``strict``."""
        ok = expected == got
        self.facts.append({"workload": row.workload, "row": row.label, "tool": tool,
                           "what": what, "expected": expected, "got": got, "ok": ok,
                           "strict": strict})
        if not ok and strict:
            row.checks.append(f"{tool}: {what} expected {expected}, got {got}")

    def progress(self, row: Row, rep: int, tool: str, value: float, extra: str = "") -> None:
        print(f"  [{row.workload}] rep {rep + 1}/{self.cfg.reps} {tool:9s} "
              f"{fmt_value(value, row.unit):>16s}  {row.label}{extra}", flush=True)

    def count(self, tool: str, store: Path) -> dict[str, int]:
        """Runs and points durable in ``store``, counted by a fresh process."""
        return self.runner.call(tool, "count", store)


def _scaled_note(ctx: Ctx, what: str, tb: tuple[int, int], ml: tuple[int, int],
                 per_run: int) -> str:
    if "mlflow" not in ctx.tools or tb == ml:
        return ""
    return (f"MLflow measured at {ml[0]:,} run x {ml[1]:,} steps ({ml[0] * ml[1] * per_run:,} "
            f"{what}) vs trackbook's {tb[0]:,} x {tb[1]:,} "
            f"({tb[0] * tb[1] * per_run:,}); rate extrapolated.")


def _logging(ctx: Ctx, key: str, label: str, task: str, tb: tuple[int, int],
             ml: tuple[int, int]) -> list[Row]:
    row = Row(key, label, "points/s", True, TARGET_POINTS,
              note=_scaled_note(ctx, "points", tb, ml, 3))
    for rep in range(ctx.cfg.reps):
        for tool in ctx.order(rep):
            runs, steps = ml if tool == "mlflow" else tb
            store = ctx.runner.fresh_store(tool, f"w{key}")
            res = ctx.runner.call(tool, task, store, runs=runs, steps=steps)
            got = ctx.count(tool, store)
            ctx.fact(row, tool, "points on disk after end_run", res["points"], got["points"])
            ctx.fact(row, tool, "runs", runs, got["runs"])
            rate = res["points"] / res["elapsed"]
            row.add(tool, rate)
            ctx.progress(row, rep, tool, rate, f" ({res['elapsed']:.2f} s)")
            ctx.runner.discard(store)
    return [row]


def w1_naive(ctx: Ctx) -> list[Row]:
    c = ctx.cfg
    return _logging(ctx, "1", "naive loop: log_metric per value (10 params, 3 metrics)",
                    "log_naive", (c.log_runs, c.log_steps), (c.ml_log_runs, c.ml_log_steps))


def w2_steps(ctx: Ctx) -> list[Row]:
    c = ctx.cfg
    return _logging(ctx, "2", "log_metrics(dict of 3, step=s) per step", "log_steps",
                    (c.batch_runs, c.batch_steps), (c.ml_batch_runs, c.ml_batch_steps))


def _wait_ready(procs: list[Any], ready: list[Path], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in ready):
        for proc in procs:
            if proc.poll() is not None:
                return  # it died before starting: collect() reports its stderr
        if time.monotonic() > deadline:
            raise BenchError(f"concurrent writers not ready after {timeout} s")
        time.sleep(0.01)


def w6_concurrent(ctx: Ctx) -> list[Row]:
    c = ctx.cfg
    n = c.procs
    note = ""
    if "mlflow" in ctx.tools and c.ml_conc_steps != c.conc_steps:
        note = (f"MLflow measured at {n} x {c.ml_conc_steps * 3:,} points vs trackbook's "
                f"{n} x {c.conc_steps * 3:,}; rate extrapolated.")
    rate = Row("6", f"{n} processes logging into one store (log_metric loop): total",
               "points/s", True, TARGET_POINTS, note=note)
    wall = Row("6", f"{n} processes: wall time, start to last end_run", "s", False, None)
    if note:
        wall.comparable = False
        wall.note = "Sizes differ per tool (see the row above): no ratio; compare the rates."
    lost: dict[str, list[int]] = {}
    errors: dict[str, list[int]] = {}
    for rep in range(c.reps):
        for tool in ctx.order(rep):
            steps = c.ml_conc_steps if tool == "mlflow" else c.conc_steps
            store = ctx.runner.fresh_store(tool, "w6")
            go = store.parent / "go"
            ready = [store.parent / f"ready-{i}" for i in range(n)]
            procs = [ctx.runner.spawn(tool, "concurrent_writer", store, steps=steps,
                                      ready=str(r), go=str(go)) for r in ready]
            _wait_ready(procs, ready)
            go.write_text("go")
            results = [ctx.runner.collect(tool, "concurrent_writer", p) for p in procs]
            got = ctx.count(tool, store)
            expected = sum(r["points"] for r in results)
            seconds = max(r["t_end"] for r in results) - min(r["t_start"] for r in results)
            errs = sum(r["errors"] for r in results)
            lost.setdefault(tool, []).append(expected - got["points"])
            errors.setdefault(tool, []).append(errs)
            strict = tool == "trackbook"  # MLflow's losses are its result, not our bug
            ctx.fact(rate, tool, "points on disk after all end_run", expected, got["points"],
                     strict)
            ctx.fact(rate, tool, "logging errors", 0, errs, strict)
            first = next((r["first_error"] for r in results if r["first_error"]), None)
            rate.add(tool, got["points"] / seconds)
            wall.add(tool, seconds)
            ctx.progress(rate, rep, tool, got["points"] / seconds,
                         f" ({seconds:.2f} s, lost {expected - got['points']}, errors {errs}"
                         + (f": {first}" if first else "") + ")")
            ctx.runner.discard(store)
    rate.note = (rate.note + " Points lost / errors per repetition: " + "; ".join(
        f"{t} {lost[t]} / {errors[t]}" for t in sorted(lost))).strip()
    return [rate, wall]


_IMPORT_SNIPPET = """\
import time
t0 = time.perf_counter()
import {m}
t1 = time.perf_counter()
{m}.start_run, {m}.log_metric, {m}.MlflowClient
t2 = time.perf_counter()
{m}.set_tracking_uri({uri!r})
{m}.set_experiment("bench")
{m}.start_run()
{m}.log_metric("loss", 1.0, step=0)
{m}.end_run()
t3 = time.perf_counter()
print(t1 - t0, t2 - t0, t3 - t0)
"""


def w7_import(ctx: Ctx) -> list[Row]:
    """Import time, then (same fresh interpreter) the time to the first durable point."""
    plain = Row("7", "cold import (fresh interpreter)", "s", False, TARGET_IMPORT)
    fluent = Row("7", "import + resolve start_run, log_metric, MlflowClient", "s", False,
                 TARGET_IMPORT, note="trackbook loads its modules lazily, on first attribute "
                 "access: this row charges for that.")
    first = Row("7", "fresh interpreter to first durable point (import, set_experiment, "
                "start_run, log_metric, end_run)", "s", False, TARGET_IMPORT,
                note="Import target applied. Charges every deferred import and first-call cost.")
    for rep in range(ctx.cfg.import_reps):
        for tool in ctx.order(rep):
            store = ctx.runner.fresh_store(tool, "w7")
            uri = str(store) if tool == "trackbook" else f"sqlite:///{store}/mlflow.db"
            out = ctx.runner.python_snippet(tool, _IMPORT_SNIPPET.format(m=tool, uri=uri))
            t_import, t_fluent, t_first = (float(x) for x in out.split()[-3:])
            plain.add(tool, t_import)
            fluent.add(tool, t_fluent)
            first.add(tool, t_first)
            ctx.fact(first, tool, "points on disk", 1, ctx.count(tool, store)["points"])
            ctx.runner.discard(store)
    for tool in ctx.tools:
        print(f"  [7] {tool:9s} import {fmt_value(plain.median(tool), 's')}, "
              f"with API {fmt_value(fluent.median(tool), 's')}, first durable point "
              f"{fmt_value(first.median(tool), 's')}", flush=True)
    return [plain, fluent, first, *_durability(ctx)]


_DURABILITY_SNIPPET = """\
import os, time
os.environ["TRACKBOOK_DURABILITY"] = {policy!r}
t0 = time.perf_counter()
import trackbook as tb
tb.set_tracking_uri({uri!r})
tb.set_experiment("bench")
tb.start_run()
tb.log_metric("loss", 1.0, step=0)
tb.end_run()
t1 = time.perf_counter()
ends = []
for r in range({runs}):
    tb.start_run()
    tb.log_params({{"lr": 0.1, "depth": r}})
    for i in range({points}):
        tb.log_metric("loss", 0.5, step=i)
    t = time.perf_counter()
    tb.end_run()
    ends.append(time.perf_counter() - t)
print(t1 - t0, sorted(ends)[len(ends) // 2])
"""


def _durability(ctx: Ctx) -> list[Row]:
    """trackbook alone: the cost of each ``TRACKBOOK_DURABILITY`` policy (store/durable.py)
    on the first durable point and on ``end_run`` (which fsyncs under ``commit``)."""
    if "trackbook" not in ctx.tools:
        return []
    points = ctx.cfg.log_steps  # 1,000 (quick and full); 20 (smoke)
    runs = max(2, min(20, points // 50))
    rows = []
    for policy in ("off", "commit", "flush"):
        default = " (default)" if policy == "commit" else ""
        first = Row("7", f"first durable point, TRACKBOOK_DURABILITY={policy}{default}", "s",
                    False, None, comparable=False,
                    note="trackbook only (MLflow has no such setting): fresh interpreter to "
                    "the first end_run, as above.")
        end = Row("7", f"end_run latency ({points:,} points buffered, median of "
                  f"{runs} runs), TRACKBOOK_DURABILITY={policy}{default}", "s",
                  False, None, comparable=False,
                  note="trackbook only: flush, fsync (commit, flush) and the final status.")
        for _rep in range(max(1, ctx.cfg.import_reps // 2)):
            store = ctx.runner.fresh_store("trackbook", "w7d")
            out = ctx.runner.python_snippet("trackbook", _DURABILITY_SNIPPET.format(
                policy=policy, uri=str(store), runs=runs, points=points))
            t_first, t_end = (float(x) for x in out.split()[-2:])
            first.add("trackbook", t_first)
            end.add("trackbook", t_end)
            ctx.fact(end, "trackbook", "points on disk (durability rows)", 1 + runs * points,
                     ctx.count("trackbook", store)["points"])
            ctx.runner.discard(store)
        print(f"  [7] durability={policy:6s} first durable point "
              f"{fmt_value(first.median('trackbook'), 's')}, end_run "
              f"{fmt_value(end.median('trackbook'), 's')}", flush=True)
        rows += [first, end]
    return rows
