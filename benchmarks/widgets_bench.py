"""Notebook widgets, measured in a real browser (JupyterLab + headless Chromium).

Usage::

    .venv/bin/python benchmarks/widgets_bench.py --quick    # ~1-2 minutes
    .venv/bin/python benchmarks/widgets_bench.py            # full sizes, ~6-8 minutes
    .venv/bin/python benchmarks/widgets_bench.py --workdir /tmp/wb --keep   # reuse stores

Targets (issue 4), at full size:

- 100,000 runs in the store: the table's first rows visible within 1 s of display, a
  sort (header click -> sorted rows painted) within 0.3 s;
- curves of 100 runs x 100,000 steps: under 2 MB sent to the browser, drawn within 2 s.

Clocks run in the page (``performance.now()``): "display" starts when the cell that
creates and shows the widget is run (kernel execution included), and ends two animation
frames after the rows or traces are in the DOM (painted). Bytes are what the browser
receives on the kernel's websocket meanwhile. Stores are written by a child process
first (not timed); the kernel imports trackbook and its widgets in an earlier cell.
Needs playwright and the Debian chromium (``CHROMIUM_PATH``), like the browser tests.
Writes ``benchmarks/results/widgets.md`` (``--out``) and prints the same table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from _standalone import run_meta, write_report  # noqa: E402
from lab_driver import (  # noqa: E402 - the browser tests' helpers
    CHROMIUM,
    CHROMIUM_ARGS,
    make_notebook,
    open_notebook,
    poll_kernel,
    shutdown_kernel,
)
from lab_server import LabServer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MB = 1024 * 1024
METHOD = (
    "Clocks run in the page (`performance.now()`): a display starts when the cell that "
    "creates and shows the widget is run (kernel execution included) and ends two animation "
    "frames after the rows or all traces are in the DOM. A sort starts at the header click "
    "and ends two frames after the re-drawn rows (no page request in flight). Bytes are "
    "everything the page received on its websockets meanwhile. Each display is a new "
    "widget in a new cell; the kernel imported trackbook and its widgets in an earlier "
    "cell; stores were written (and indexed) by a child process before.")


@dataclass
class Sizes:
    runs: int = 100_000
    curve_runs: int = 100
    curve_steps: int = 100_000
    reps: int = 3


PROFILES = {"full": Sizes(), "quick": Sizes(10_000, 20, 20_000, 2)}
"""``reps`` displays of each widget are measured after the first (reported on its own)."""


@dataclass
class Row:
    label: str
    unit: str
    target: float
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def met(self) -> bool:
        return self.median <= self.target


# -- stores (written by a child process, not timed) ------------------------------------------

RUNS_GEN = """
import sys, trackbook as tb
tb.set_tracking_uri(sys.argv[1]); tb.set_experiment("runs")
for i in range(int(sys.argv[2])):
    with tb.start_run(run_name=f"run-{i:06d}"):
        tb.log_params({"lr": 10 ** -(i % 5), "model": ("rf", "mlp", "lin")[i % 3],
                       "depth": i % 12, "seed": i})
        tb.log_metrics({"acc": (i * 7919 % 10007) / 10007, "loss": 1 / (1 + i % 977),
                        "f1": (i * 31 % 101) / 101})
        tb.set_tag("team", "ab"[i % 2])
"""

CURVES_GEN = """
import math, sys, time, trackbook as tb
tb.set_tracking_uri(sys.argv[1]); tb.set_experiment("curves")
runs, steps = int(sys.argv[2]), int(sys.argv[3])
for i in range(runs):
    with tb.start_run(run_name=f"run-{i:03d}"):
        tb.log_params({"lr": 10 ** -(i % 4), "seed": i})
        t, scale = time.time_ns() // 1_000_000, 1 + i / 10
        for s in range(steps):
            tb.log_metric("loss", scale * math.exp(-5 * s / steps) + 0.01 * (s * 7919 % 13),
                          step=s, timestamp=t + s)
"""

# Build the catalog once, as any earlier query in the user's session would have.
INDEX = """
import sys, trackbook as tb
tb.set_tracking_uri(sys.argv[1])
print(len(tb.search_runs(search_all_experiments=True, max_results=1)))
"""


def _store(workdir: Path, name: str, gen: str, args: list[str]) -> Path:
    """``workdir/name``, written by ``gen`` unless a previous run left it complete."""
    root = workdir / name
    done = root / ".bench-complete"
    if done.exists():
        print(f"  reusing {root}")
        return root
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKBOOK_", "MLFLOW_"))}
    subprocess.run([sys.executable, "-c", gen, str(root), *args], check=True, env=env)
    subprocess.run([sys.executable, "-c", INDEX, str(root)], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    done.write_text("")
    print(f"  wrote {root} in {time.perf_counter() - t0:.0f} s")
    return root


# -- in-page measurements ----------------------------------------------------------------------

# Run cell `index`; resolve when `ready(cellNode)` holds, then two frames later (painted).
# Also notes when the widget's view appeared and when its data arrived (data-loaded).
RUN_CELL_UNTIL = """async ([index, ready]) => {
    const nb = window.jupyterapp.shell.currentWidget;
    const cell = nb.content.widgets[index];
    const isReady = new Function("cell", ready);
    nb.content.activeCellIndex = index;
    const t0 = performance.now();
    const marks = {};
    const done = new Promise((resolve) => {
        const check = () => {
            const w = cell.node.querySelector(".tb-widget");
            if (w && marks.mounted === undefined) marks.mounted = performance.now() - t0;
            if (w?.dataset.loaded && marks.loaded === undefined) {
                marks.loaded = performance.now() - t0;
            }
            if (isReady(cell.node)) { obs.disconnect(); resolve(performance.now()); }
        };
        const obs = new MutationObserver(check);
        obs.observe(cell.node, { subtree: true, childList: true, attributes: true });
    });
    window.jupyterapp.commands.execute("notebook:run-cell");
    const t1 = await done;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const kernel = Number(cell.node.querySelector(".tb-widget")?.dataset.kernelMs);
    return { dom: t1 - t0, painted: performance.now() - t0, kernel, ...marks };
}"""

# Click a header of the table in cell `index`; resolve when the next draw is done
# (no page request in flight), then two frames later.
SORT_CLICK = """async ([index, column]) => {
    const nb = window.jupyterapp.shell.currentWidget;
    const root = nb.content.widgets[index].node.querySelector(".tb-runs");
    const before = root.dataset.drawn;
    const th = root.querySelector(`th[data-col="${column}"]`);
    const t0 = performance.now();
    const done = new Promise((resolve) => {
        const check = () => {
            if (root.dataset.drawn !== before && !root.dataset.busy) {
                obs.disconnect(); resolve(performance.now());
            }
        };
        const obs = new MutationObserver(check);
        obs.observe(root, { subtree: true, childList: true, attributes: true });
    });
    th.click();
    const t1 = await done;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return { dom: t1 - t0, painted: performance.now() - t0, kernel: Number(root.dataset.kernelMs) };
}"""

ROWS_READY = "return cell.querySelector('.tb-runs-table tbody tr[data-run-id]') !== null;"


def _traces_ready(n: int) -> str:
    return (f"return cell.querySelectorAll('.tb-curve .scatterlayer .trace').length === {n}"
            " && cell.querySelector('.tb-curve svg.main-svg') !== null;")


class WsMeter:
    """Bytes the page receives on its websockets (the kernel channel)."""

    def __init__(self, page: Any) -> None:
        self.bytes = 0
        page.on("websocket", self._attach)

    def _attach(self, ws: Any) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload: Any) -> None:
        self.bytes += len(payload if isinstance(payload, bytes) else payload.encode())


def _run_first_cell(page: Any) -> None:
    """Run the notebook's first cell (imports) and wait until it finished."""
    page.evaluate("() => window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets[0]"
                           ".model.executionCount !== null")


# The kernel's in-memory copy of the store's index (built in the background from its
# second query on); queries before it is ready run on the shared catalog file.
REPLICA_READY = "get_store().mirror._con is not None"
SORT_COLUMNS = ("metrics.acc", "metrics.acc", "params.model", "attributes.run_name",
                "metrics.loss", "attributes.start_time")


def measure_table(page: Any, lab: LabServer, store: Path, sizes: Sizes,
                  rows: dict[str, Row]) -> None:
    displays = sizes.reps + 1  # the first one in the kernel is reported on its own
    cells = [
        "import trackbook as tb\nimport trackbook.widgets\n"
        "from trackbook.tracking.uri import get_store\n"
        f"tb.set_tracking_uri({str(store)!r})\ntb.set_experiment('runs')",
        *["tb.runs_table(refresh_seconds=0)"] * displays,
    ]
    make_notebook(lab.root_dir / "bench_table.ipynb", cells)
    open_notebook(page, lab, "bench_table.ipynb")
    _run_first_cell(page)

    def display(i: int, row: str) -> None:
        got = page.evaluate(RUN_CELL_UNTIL, [i, ROWS_READY])
        rows[row].samples.append(got["painted"] / 1000)
        print(f"  table display {i}: rows painted {got['painted']:.0f} ms (widget view at "
              f"{got['mounted']:.0f} ms; kernel {got['kernel']:.0f} ms on the first page)")

    def sort(index: int, column: str, row: str) -> None:
        got = page.evaluate(SORT_CLICK, [index, column])
        rows[row].samples.append(got["painted"] / 1000)
        print(f"  sort by {column}: {got['painted']:.0f} ms (kernel {got['kernel']:.0f} ms)")

    display(1, "table_cold")
    for column in SORT_COLUMNS[:3]:  # at once: the kernel is still copying the index
        sort(1, column, "sort_cold")
    t0 = time.monotonic()
    poll_kernel(page, REPLICA_READY, bool, timeout=120)
    print(f"  kernel's index replica ready {time.monotonic() - t0:.1f} s later")
    for i in range(2, displays + 1):
        display(i, "table")
    n = page.evaluate("() => document.querySelectorAll('.tb-runs').length")
    assert n == displays, n
    for column in SORT_COLUMNS:
        sort(displays, column, "sort")
    shutdown_kernel(page)


def measure_curves(page: Any, lab: LabServer, store: Path, sizes: Sizes,
                   rows: dict[str, Row], meter: WsMeter) -> None:
    displays = sizes.reps + 1  # the first one in the page evaluates plotly
    cells = [
        "import trackbook as tb\nimport trackbook.widgets\n"
        f"tb.set_tracking_uri({str(store)!r})\ntb.set_experiment('curves')\n"
        "ids = tb.search_runs(order_by=['attributes.run_name'])['run_id'].tolist()\n"
        "assert len(ids) == " + str(sizes.curve_runs),
        *["tb.curves('loss', runs=ids, refresh_seconds=0)"] * displays,
    ]
    make_notebook(lab.root_dir / "bench_curves.ipynb", cells)
    open_notebook(page, lab, "bench_curves.ipynb")
    _run_first_cell(page)
    for i in range(1, displays + 1):
        before = meter.bytes
        got = page.evaluate(RUN_CELL_UNTIL, [i, _traces_ready(sizes.curve_runs)])
        sent = (meter.bytes - before) / MB
        rows["curves_cold" if i == 1 else "drawn"].samples.append(got["painted"] / 1000)
        rows["bytes"].samples.append(sent)
        print(f"  curves {i}: drawn {got['painted']:.0f} ms, {sent:.2f} MB received (view at "
              f"{got['mounted']:.0f} ms, data at {got['loaded']:.0f} ms, kernel "
              f"{got['kernel']:.0f} ms)")
    shutdown_kernel(page)


# -- report ----------------------------------------------------------------------------------


def _fmt(row: Row, value: float) -> str:
    return f"{value:.2f} {row.unit}" if row.unit == "MB" else f"{value:.3f} {row.unit}"


def markdown(rows: list[Row], meta: dict[str, str]) -> str:
    lines = ["# Notebook widgets in the browser", "",
             "| measurement | median | samples | target | |", "|---|---|---|---|---|"]
    for r in rows:
        samples = ", ".join(_fmt(r, s).split()[0] for s in r.samples)
        label = f"{r.label} ({r.note})" if r.note else r.label
        lines.append(f"| {label} | {_fmt(r, r.median)} | {samples} | "
                     f"≤ {_fmt(r, r.target)} | {'met' if r.met else '**missed**'} |")
    lines += ["", *(f"- **{k}**: {v}" for k, v in meta.items()), "", METHOD]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="10,000 runs; curves of 20 runs x 20,000 steps; 2 repetitions")
    p.add_argument("--runs", type=int)
    p.add_argument("--curve-runs", type=int)
    p.add_argument("--curve-steps", type=int)
    p.add_argument("--reps", type=int)
    p.add_argument("--workdir", type=Path, help="where the stores go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the workdir (reused next time)")
    p.add_argument("--out", type=Path, default=RESULTS / "widgets.md")
    p.add_argument("--json", type=Path, help="also write the raw samples as JSON")
    args = p.parse_args(argv)
    profile = "quick" if args.quick else "full"
    base = PROFILES[profile]
    sizes = Sizes(*(getattr(args, f) if getattr(args, f) is not None else getattr(base, f)
                    for f in ("runs", "curve_runs", "curve_steps", "reps")))
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: apt-get install chromium (or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="trackbook-widgets-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    t_start = time.perf_counter()
    print(f"widgets benchmark ({profile}): {sizes}; workdir {workdir}")
    runs, curves = f"{sizes.runs:,} runs", f"{sizes.curve_runs} runs x {sizes.curve_steps:,} steps"
    rows = {
        "table_cold": Row(f"run table, {runs}: first rows painted, first table in a fresh "
                          "kernel", "s", 1.0, note="queries the shared catalog file"),
        "sort_cold": Row(f"run table, {runs}: header click to sorted rows painted, in the "
                         "first seconds of a fresh kernel", "s", 0.3,
                         note="before its in-memory copy of the store's index is ready"),
        "table": Row(f"run table, {runs}: first rows painted after display", "s", 1.0),
        "sort": Row(f"run table, {runs}: header click to sorted rows painted", "s", 0.3),
        "bytes": Row(f"curves, {curves}: received by the browser per display", "MB", 2.0,
                     note="widget code (1.2 MB, plotly as text) + points"),
        "curves_cold": Row(f"curves, {curves}: drawn after display, first curves in the "
                           "page", "s", 2.0, note="plotly evaluated once per page"),
        "drawn": Row(f"curves, {curves}: drawn after display", "s", 2.0),
    }
    try:
        runs_store = _store(workdir, f"runs-{sizes.runs}", RUNS_GEN, [str(sizes.runs)])
        curves_store = _store(workdir, f"curves-{sizes.curve_runs}x{sizes.curve_steps}",
                              CURVES_GEN, [str(sizes.curve_runs), str(sizes.curve_steps)])
        lab_root = workdir / "lab"
        lab_root.mkdir(exist_ok=True)
        with LabServer(lab_root) as lab, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 1280, "height": 1400})
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            meter = WsMeter(page)
            measure_table(page, lab, runs_store, sizes, rows)
            measure_curves(page, lab, curves_store, sizes, rows, meter)
            browser.close()
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    meta = run_meta("widgets_bench.py", argv, f"{profile}: {sizes}", load_before, t_start)
    write_report(markdown(list(rows.values()), meta), args.out, args.json, meta, [
        {"label": r.label, "unit": r.unit, "target": r.target, "samples": r.samples,
         "median": r.median, "met": r.met} for r in rows.values()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
