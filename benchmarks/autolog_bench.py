"""Autolog overhead: trackbook's and MLflow's autolog against plain training, per framework.

Usage::

    .venv/bin/python benchmarks/autolog_bench.py [--quick] [--frameworks xgboost,lightgbm]

Each framework runs in a fresh process per tool (``autolog_worker.py``; MLflow's in a venv
holding MLflow and the same framework versions). Plain and autologged training alternate in
that process, at the base loop length L (boosting rounds, Lightning epochs, forest trees) and
at 2L. The overhead splits into

- **per iteration**: the CPU time spent inside the training loop's callbacks (XGBoost's
  ``before/after_iteration``, LightGBM's callbacks, Lightning's per-batch/per-epoch hooks:
  per-iteration metrics, Lightning's per-epoch checkpoints), measured directly by wrapping
  them (plain training's own callbacks subtracted), as a share of plain training's time per
  iteration (the slope between L and 2L). This is what a longer training loop pays;
  trackbook's must stay under 5 % (the script exits 1 otherwise);
- **one-time**: the rest of autolog's extra CPU time at L, in ms: creating and ending the
  run, params, datasets, the end-of-training artifacts (model, plots, ``estimator.html``...)
  and writing the buffered metric points, which a longer loop does not repeat.

scikit-learn's ``fit`` has no loop autolog hooks into: all of its cost is one-time (it grows
with the model, as the training metrics and plots predict on the training set).
Writes ``benchmarks/results/autolog.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import HERE, MLFLOW_VENV, child_env, ensure_mlflow
from _standalone import run_meta, write_report

WORKER = HERE / "autolog_worker.py"
FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "lightning")
IMPORTS = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm",
           "lightning": "pytorch_lightning"}
# import name -> distribution pinned to this venv's version in MLflow's venv
DISTRIBUTIONS = {"sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm",
                 "pytorch_lightning": "pytorch-lightning", "torch": "torch",
                 "matplotlib": "matplotlib"}
TARGET = 5.0  # % per iteration, trackbook


def _has(python: Path, modules: list[str]) -> bool:
    probe = subprocess.run([str(python), "-c", "import " + ", ".join(["mlflow", *modules])],
                           capture_output=True, env=child_env(), check=False)
    return probe.returncode == 0


def _pins(modules: list[str]) -> list[str]:
    import importlib.metadata as md

    pins = []
    for module in modules:
        dist = DISTRIBUTIONS.get(module, module)
        try:
            pins.append(f"{dist}=={md.version(dist).split('+')[0]}")
        except md.PackageNotFoundError:
            pins.append(dist)
    return pins


def mlflow_python(frameworks: list[str]) -> Path:
    """MLflow's python with the frameworks: ``benchmarks/.mlflow-venv`` (completed with
    them by pip, at this venv's versions), or the tests' MLflow venv if it has them."""
    modules = [IMPORTS[f] for f in frameworks] + ["matplotlib"]
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for python in (MLFLOW_VENV / "bin" / "python",
                   home / "trackbook-tests" / "mlflow-venv" / "bin" / "python"):
        if python.exists() and _has(python, modules):
            return python
    python = ensure_mlflow()
    if "pytorch_lightning" in modules:
        modules.append("torch")
    wanted = _pins(modules)
    print(f"[setup] installing {' '.join(wanted)} into {MLFLOW_VENV} (once)", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *wanted], check=True)
    return python


def _run(python: str, framework: str, tool: str, reps: int, scale: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"autolog-{tool}-") as store:
        proc = subprocess.run([python, str(WORKER), framework, tool, store, str(reps),
                               str(scale)], capture_output=True, text=True, env=child_env(),
                              cwd=store, timeout=3600, check=False)  # MLflow's ./mlruns
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])
    raise RuntimeError(f"{tool} {framework} worker failed (exit {proc.returncode}):\n"
                       + "\n".join(proc.stderr.splitlines()[-15:]))


def summarize(result: dict[str, Any]) -> dict[str, float]:
    """Per-iteration overhead (%), one-time cost (ms), plain and autologged seconds at L.

    CPU times, of whole calls and inside the callbacks alike, are the minimum over the
    repetitions: other load on the machine only ever adds time.
    """
    n = result["base"]
    cpu = {k: min(v) for k, v in result["cpu"].items()}
    wall = {k: statistics.median(v) for k, v in result["wall"].items()}
    hooks = {k: min(v) for k, v in result["hooks"].items()}
    plain_per_iteration = (cpu[f"off@{2 * n}"] - cpu[f"off@{n}"]) / n
    in_loop = {m: hooks[f"autolog@{m}"] - hooks[f"off@{m}"] for m in (n, 2 * n)}
    one_time = cpu[f"autolog@{n}"] - cpu[f"off@{n}"] - in_loop[n]
    cold = result["cold"]["autolog"][1] - result["cold"]["off"][1]
    return {"n": n, "plain_s": cpu[f"off@{n}"], "autolog_s": cpu[f"autolog@{n}"],
            "ratio": cpu[f"autolog@{n}"] / cpu[f"off@{n}"],
            "wall_ratio": wall[f"autolog@{n}"] / wall[f"off@{n}"],
            "per_iteration_pct": 100.0 * in_loop[2 * n] / (2 * n) / plain_per_iteration,
            "in_loop_ms": 1000 * in_loop[n], "one_time_ms": 1000 * one_time,
            "first_call_ms": 1000 * cold}


UNITS = {"sklearn": "trees", "xgboost": "rounds", "lightgbm": "rounds",
         "lightning": "epochs"}


def report(rows: list[dict[str, Any]], meta: dict[str, str]) -> str:
    lines = ["# Autolog overhead", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "CPU time of the training process (every thread) and inside the loop's "
              "callbacks, the minimum of the repetitions (wall time: the median); L is the "
              "base loop length.",
              "",
              "| framework (L) | tool | plain at L | autologged at L | ratio (wall) "
              "| per iteration | one-time | first call in process |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["summary"]
        per_it = "n/a (no loop)" if r["framework"] == "sklearn" \
            else f"{s['per_iteration_pct']:+.1f} %"
        lines.append(
            f"| {r['framework']} ({s['n']} {UNITS[r['framework']]}) | {r['tool']} "
            f"| {s['plain_s']:.3f} s | {s['autolog_s']:.3f} s | {s['ratio']:.2f}x "
            f"({s['wall_ratio']:.2f}x) | {per_it} | {s['one_time_ms']:.0f} ms "
            f"| +{s['first_call_ms']:.0f} ms |")
    lines += ["", "per iteration: CPU inside autolog's loop callbacks per boosting round / "
              "epoch, as a share of plain training's CPU per round / epoch (trackbook's "
              f"target: < {TARGET:.0f} %). one-time: the rest of autolog's (defaults) extra "
              "CPU at L: run start/end, params, datasets, model, plots, metric flush, which "
              "a longer loop does not repeat. first call: the extra wall time of the first "
              "autologged call in a process over the first plain one (imports, font "
              "cache)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="5 repetitions instead of 9")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--only", choices=["both", "trackbook", "mlflow"], default="both")
    p.add_argument("--scale", type=float, default=1.0, help="dataset size factor")
    p.add_argument("--out", type=Path, default=HERE / "results" / "autolog.md")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = set(frameworks) - set(FRAMEWORKS)
    if unknown:
        raise SystemExit(f"--frameworks: unknown {sorted(unknown)}; choose from {FRAMEWORKS}")
    reps = 5 if args.quick else 9
    t0, load = time.perf_counter(), os.getloadavg()[0]
    pythons = {}
    if args.only in ("both", "trackbook"):
        pythons["trackbook"] = sys.executable
    if args.only in ("both", "mlflow"):
        pythons["mlflow"] = str(mlflow_python(frameworks))
    rows: list[dict[str, Any]] = []
    for framework in frameworks:
        for tool, python in pythons.items():
            print(f"autolog {framework} / {tool} ...", flush=True)
            result = _run(python, framework, tool, reps, args.scale)
            rows.append({"framework": framework, "tool": tool, "result": result,
                         "summary": summarize(result)})
    meta = run_meta("autolog_bench.py", argv, f"{'quick' if args.quick else 'full'} "
                    f"({reps} repetitions, scale {args.scale})", load, t0)
    write_report(report(rows, meta), args.out, args.json, meta, rows)
    failed = [r for r in rows if r["tool"] == "trackbook" and r["framework"] != "sklearn"
              and r["summary"]["per_iteration_pct"] >= TARGET]
    for r in failed:
        print(f"TARGET MISSED: trackbook {r['framework']} autolog costs "
              f"{r['summary']['per_iteration_pct']:.1f} % per iteration (target < {TARGET} %)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
