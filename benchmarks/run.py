"""Side-by-side benchmarks: trackbook vs MLflow 3 (SQLite store), same workloads.

Usage::

    .venv/bin/python benchmarks/run.py --quick          # ~2-3 minutes
    .venv/bin/python benchmarks/run.py                  # full sizes (tens of minutes)
    .venv/bin/python benchmarks/run.py --smoke --only trackbook --json out.json

MLflow is installed once into ``benchmarks/.mlflow-venv``. Every measurement runs in a
fresh subprocess; the tool order alternates across repetitions; medians are reported.
Writes ``benchmarks/results/latest.md`` and ``latest.png`` (not with ``--smoke``
unless ``--out`` is given). The whole suite also runs the trackbook-only widget and s3
benchmarks and ``autolog_bench.py`` (autolog overhead, both tools).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _config import WORKLOADS, Config, build
from _harness import MLFLOW_SPEC, Runner, ensure_mlflow, version_of
from _report import Row, chart, console_table, markdown
from _suite import Ctx, w1_naive, w2_steps, w6_concurrent, w7_import
from _suite_serve import w9_serving
from _suite_store import w3_runs, w4_history, w5_curves

RESULTS = Path(__file__).resolve().parent / "results"
SUITE: dict[str, Callable[[Ctx], list[Row]]] = {
    "7": w7_import, "1": w1_naive, "2": w2_steps, "3": w3_runs, "4": w4_history,
    "5": w5_curves, "6": w6_concurrent, "9": w9_serving,
}
METHOD = [
    "Every measurement is a fresh subprocess: trackbook under the project's Python, MLflow "
    "under `benchmarks/.mlflow-venv` with tracking URI `sqlite:///<tmp>/mlflow.db` (MLflow "
    "3's default store). The tool order alternates across repetitions; tables show medians.",
    "Clocks start after the tool is imported and the experiment exists. Writing workloads "
    "stop after the last `end_run` returned: for trackbook that includes flushing and "
    "compacting every buffered point. A fresh process then counts the runs and points on "
    "disk; a count that differs from what was logged fails the row (CHECK FAILED).",
    "Each store is written once and copied for each reader, so every repetition's first "
    "query is the first after writing (trackbook builds its DuckDB index there). Readers "
    "import pandas (trackbook also pyarrow/duckdb) and call `set_experiment` (MLflow opens "
    "its engine) before the clock starts; so do writers (trackbook defers pyarrow/pandas to "
    "its first flush, MLflow loads its stack at import): workload 7 charges those imports.",
    "Histories are read with `MlflowClient().get_metric_history` on both, and the timing "
    "includes materializing the result as a `list` of `Metric` objects (what MLflow "
    "returns; trackbook returns a lazy sequence).",
    "Where MLflow is measured at a smaller size, its rate (points/s, runs/s) is compared, "
    "and the row says so.",
    "Import: one fresh `python -c` interpreter per repetition times `import x`, then "
    "resolving `start_run`, `log_metric`, `MlflowClient`, then going on to the first "
    "durable point (`set_tracking_uri`, `set_experiment`, `start_run`, `log_metric`, "
    "`end_run`) on an empty store; bytecode caches warm.",
    "Bytes per point: allocated blocks (`du`) of the whole store folder / points.",
    "Child processes run without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE and with MLflow "
    "telemetry off (no network here).",
    "Serving (9): one LogisticRegression on 4 numeric columns, saved once in MLflow's "
    "format and served from that folder by `trackbook models serve` and by `mlflow models "
    "serve --env-manager local` (uvicorn, 1 worker, MLflow's default), a fresh server per "
    "repetition on 127.0.0.1. One load-generator process "
    "(`tests/integration/serving_load.py`) keeps 4 HTTP/1.1 keep-alive connections busy "
    "with one single-row `dataframe_split` request in flight each, warms up, then counts "
    "the requests answered in a fixed time; every response must be a 200 with the "
    "expected prediction. Its target is absolute (trackbook >= 2,000 requests/s).",
]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, ~2-3 minutes")
    mode.add_argument("--smoke", action="store_true",
                      help="tiny sizes: proves the harness works (counts, not speed)")
    p.add_argument("--only", choices=["both", "trackbook", "mlflow"], default="both")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated subset of 1-9 (8 runs with 4)")
    p.add_argument("--out", type=Path, default=None,
                   help="results Markdown (default benchmarks/results/latest.md; none "
                        "with --smoke); the chart goes beside it as .png")
    p.add_argument("--json", type=Path, default=None, help="also write raw results as JSON")
    p.add_argument("--workdir", type=Path, default=None, help="where stores go (default tmp)")
    p.add_argument("--keep", action="store_true", help="keep the workdir")
    p.add_argument("--trackbook-python", default=sys.executable)
    p.add_argument("--mlflow-spec", default=MLFLOW_SPEC, help="pip requirement for MLflow")
    p.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    sizes = p.add_argument_group("sizes (override the profile; ml-* are MLflow's)")
    for name in Config.__dataclass_fields__:
        flag = "--" + name.replace("_", "-")
        if name == "create_sizes":
            sizes.add_argument(flag, type=lambda s: [int(x) for x in s.split(",")],
                               default=None, help="comma-separated run counts")
        else:
            sizes.add_argument(flag, type=int, default=None)
    return p.parse_args(argv)


def _loadavg() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    profile = "smoke" if args.smoke else "quick" if args.quick else "full"
    cfg = build(profile, {k: getattr(args, k) for k in Config.__dataclass_fields__})
    wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
    bad = [w for w in wanted if w not in WORKLOADS]
    if bad:
        raise SystemExit(f"--workloads: unknown {bad}; choose from {', '.join(WORKLOADS)}")
    if "8" in wanted and "4" not in wanted:
        wanted.append("4")  # bytes per point are measured on workload 4's store
    pythons = {}
    if args.only in ("both", "trackbook"):
        pythons["trackbook"] = args.trackbook_python
    if args.only in ("both", "mlflow"):
        pythons["mlflow"] = str(ensure_mlflow(args.mlflow_spec))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="trackbook-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    versions = {t: version_of(py, t) for t, py in pythons.items()}
    print(f"benchmarks: profile {profile}, tools "
          + ", ".join(f"{t} {v}" for t, v in versions.items()) + f", workdir {workdir}")
    ctx = Ctx(Runner(pythons, workdir, verbose=args.verbose), cfg)
    rows: list[Row] = []
    load_before = _loadavg()
    t0 = time.perf_counter()
    try:
        for key, fn in SUITE.items():
            if key in wanted:
                print(f"workload {key}:", flush=True)
                t_wl = time.perf_counter()
                rows += fn(ctx)
                print(f"  ({time.perf_counter() - t_wl:.0f} s)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    print()
    print(console_table(rows))
    failed = [f for f in ctx.facts if not f["ok"]]
    print(f"\n{len(ctx.facts) - len(failed)} of {len(ctx.facts)} count checks passed; "
          f"done in {elapsed:.0f} s")
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "profile": f"{profile} ({cfg.reps} "
        f"repetitions; import {cfg.import_reps})", "wall time": f"{elapsed:.0f} s",
        "tools": ", ".join(f"{t} {v}" for t, v in versions.items()),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"{platform.system()} {platform.machine()}",
        "load average (1 min) before / after": f"{load_before} / {_loadavg()} (other work "
        "on the machine slows both tools; the alternating order spreads it)",
        "sizes": ", ".join(f"{k}={v}" for k, v in vars(cfg).items()),
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None
                                                          else argv),
    }
    out = args.out or (None if args.smoke else RESULTS / "latest.md")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        png = out.with_suffix(".png")
        drew = chart(rows, png)
        out.write_text(markdown(rows, meta, METHOD, png.name if drew else None))
        print(f"wrote {out}" + (f" and {png}" if drew else " (no matplotlib: no chart)"))
    if args.json is not None:
        args.json.write_text(json.dumps({"meta": meta, "rows": [r.to_json() for r in rows],
                                         "facts": ctx.facts}, indent=1))
    if args.only != "mlflow" and not args.smoke and set(wanted) >= set(WORKLOADS):
        # The widgets' targets are trackbook-only and measured in a real browser (with the
        # whole suite only: --workloads picks a subset).
        print("\nwidgets (JupyterLab + headless Chromium):", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).with_name("widgets_bench.py")),
                        *(["--quick"] if args.quick else [])], check=False)
        # So are the object-storage targets (issue 8), against a local SeaweedFS.
        print("\ns3:// store (SeaweedFS on 127.0.0.1):", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).with_name("s3_bench.py")),
                        *(["--quick"] if args.quick else [])], check=False)
        # Autolog overhead against plain training (trackbook's and MLflow's, issue 14): it
        # exits 1 when trackbook's per-iteration overhead misses its target.
        print("\nautolog overhead (sklearn, xgboost, lightgbm, Lightning):", flush=True)
        autolog = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("autolog_bench.py")),
             *(["--quick"] if args.quick else []),
             *(["--only", "trackbook"] if args.only == "trackbook" else [])], check=False)
        if autolog.returncode != 0:
            return 1
    return 1 if failed and any(r.checks for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
