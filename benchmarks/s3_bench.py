"""A store on S3-compatible object storage, against a local SeaweedFS (issue 8's targets).

Usage::

    .venv/bin/python benchmarks/s3_bench.py --quick    # ~1-2 minutes
    .venv/bin/python benchmarks/s3_bench.py            # full sizes, ~3-5 minutes

Targets (trackbook only; ``make bench`` runs this after the side-by-side suite):

- logging throughput per process to an ``s3://`` store within 2x of a local store: one
  run of many ``log_metric`` calls, and many short runs (params, a tag, 100 points each),
  timed in a fresh process until the last run ended (the s3 push runs in the background),
  and also until the process's exit hooks are done (the final flush and, for s3, the
  synchronous final push), reported without a target;
- listing-based refresh of 1,000 new runs under 2 s: a reader that is up to date pulls
  and folds them into its index with its next query. Measured for runs of one writer, and
  for the same runs spread over one writer each (a sweep's shape: one listing entry and
  one request per writer).

The server (``tests/s3server.py``, the one the tests use) starts on 127.0.0.1 and shares
the machine's cores with the processes measured. Writes ``benchmarks/results/s3.md``.
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
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _standalone import run_meta, write_report  # noqa: E402

from s3server import SeaweedS3  # noqa: E402 - the tests' real S3 server

RESULTS = Path(__file__).resolve().parent / "results"

# Registered before trackbook's own exit hook, so it prints after the final flush and push:
# a script's second line of output is the loop plus the process's exit work.
AT_EXIT = """
import atexit, time
_t = [0.0]
atexit.register(lambda: print(time.perf_counter() - _t[0], flush=True))
"""

LOG_POINTS = AT_EXIT + """
import sys, time
import trackbook as tb
tb.set_tracking_uri(sys.argv[1]); n = int(sys.argv[2])
tb.set_experiment("speed")
t = _t[0] = time.perf_counter()
with tb.start_run():
    for i in range(n):
        tb.log_metric("loss", 1.0 / (i + 1), step=i)
print(time.perf_counter() - t)
"""

SHORT_RUNS = AT_EXIT + """
import sys, time
import trackbook as tb
tb.set_tracking_uri(sys.argv[1]); n = int(sys.argv[2])
tb.set_experiment(sys.argv[3])
t = _t[0] = time.perf_counter()
for r in range(n):
    with tb.start_run():
        tb.log_params({"lr": 0.1, "r": r, "opt": "adam"})
        tb.set_tag("kind", "short")
        for i in range(100):
            tb.log_metric("loss", 1.0 / (i + 1), step=i)
print(time.perf_counter() - t)
"""

REFRESH = """
import sys, time
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
exp = sys.argv[2]
tb.search_runs(search_all_experiments=True)  # warm: imports, catalog, replica
before = len(tb.search_runs(experiment_names=[exp])) if tb.get_experiment_by_name(exp) else 0
print("ready", before, flush=True)
sys.stdin.readline()  # the new runs are in the bucket now
store = tb.Client().store
t = time.perf_counter()
store.pull(force=True)
t_pull = time.perf_counter() - t
df = tb.search_runs(experiment_names=[exp])
print(len(df) - before, t_pull, time.perf_counter() - t)
"""


@dataclass
class Sizes:
    points: int = 200_000
    short: int = 300
    runs: int = 1000
    reps: int = 3


PROFILES = {"full": Sizes(), "quick": Sizes(100_000, 150, 1000, 2)}


@dataclass
class Row:
    label: str
    target: float | None  # None: reported, not a target
    kind: str  # "ratio": s3 time / local time; "seconds"
    local: list[float] = field(default_factory=list)
    s3: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def value(self) -> float:
        if self.kind == "ratio":
            return statistics.median(self.s3) / statistics.median(self.local)
        return statistics.median(self.s3)

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value <= self.target if self.kind == "ratio" else self.value < self.target


def python(code: str, *args: str, cache: Path) -> str:
    """Run ``code`` in a fresh interpreter with its own replica folder; its stdout."""
    environ = dict(os.environ, TRACKBOOK_CACHE_DIR=str(cache))
    environ.pop("TRACKBOOK_STORE", None)
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=environ, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return out.stdout.strip()


def refresh(url: str, exp: str, cache: Path, make_runs: Callable[[], object]
            ) -> tuple[int, float, float]:
    """(new runs seen, seconds to pull, seconds to pull and answer the query) of a reader
    that was up to date when ``make_runs`` put the runs in the bucket."""
    environ = dict(os.environ, TRACKBOOK_CACHE_DIR=str(cache))
    environ.pop("TRACKBOOK_STORE", None)
    proc = subprocess.Popen([sys.executable, "-c", REFRESH, url, exp], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=environ)
    assert proc.stdout is not None
    if not proc.stdout.readline().startswith("ready"):
        proc.kill()
        raise RuntimeError("the reader did not start")
    make_runs()
    out, _ = proc.communicate("go\n", timeout=600)
    n, pull, total = out.split()
    return int(n), float(pull), float(total)


def spread_over_writers(src_url: str, dst_url: str) -> int:
    """Copy the runs logged in ``src_url`` to ``dst_url`` as if each had been logged by its
    own writer process (a sweep: one run per process): one closed heartbeat carrying the
    segment, as a writer's does, and one segment per run. Returns the number of writers."""
    from trackbook.store.objects import S3Objects

    src, dst = S3Objects(src_url), S3Objects(dst_url)
    dst.put("FORMAT", src.get("FORMAT"))
    for o in src.list("experiments/"):
        dst.put(o.key, src.get(o.key))
    by_run: dict[str, list[bytes]] = {}
    for o in src.list("log/"):
        for line in src.get(o.key).splitlines():
            by_run.setdefault(json.loads(line).get("run", ""), []).append(line + b"\n")
    beat = json.loads(src.get(next(o.key for o in src.list("writers/"))))

    def put(item: tuple[int, list[bytes]]) -> None:
        i, lines = item
        writer = f"{int(time.time() * 1000):x}-{i}-sweep"
        segment = b"".join(lines)
        dst.put(f"log/{writer}/000000000000.jsonl", segment)
        dst.put(f"writers/{writer}.json", json.dumps(dict(
            beat, writer_id=writer, segments=1, closed=True, last=segment.decode())).encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, enumerate(by_run.values())))
    return len(by_run)


def measure(base: str, tmp: Path, sizes: Sizes, rows: dict[str, Row]) -> None:
    for rep in range(sizes.reps):
        for key, code, n, extra in (("points", LOG_POINTS, sizes.points, ()),
                                    ("short", SHORT_RUNS, sizes.short, ("short",))):
            order = ("local", "s3") if rep % 2 == 0 else ("s3", "local")
            for where in order:  # alternate, so load on the machine spreads over both
                store = (str(tmp / f"local-{rep}") if where == "local"
                         else f"{base}/{key}-{rep}")
                loop, with_exit = (float(x) for x in python(
                    code, store, str(n), *extra, cache=tmp / f"c-{where}").split())
                getattr(rows[key], where).append(loop)
                getattr(rows[f"{key}_exit"], where).append(with_exit)
        url, spread = f"{base}/many-{rep}", f"{base}/spread-{rep}"
        n, _, total = refresh(url, "many", tmp / f"reader-{rep}", lambda u=url: python(
            SHORT_RUNS, u, str(sizes.runs), "many", cache=tmp / "writer"))
        if n != sizes.runs:
            raise RuntimeError(f"the reader saw {n} new runs of {sizes.runs}")
        rows["refresh"].s3.append(total)
        n, _, total = refresh(spread, "many", tmp / f"reader2-{rep}",
                              lambda u=url, s=spread: spread_over_writers(u, s))
        if n != sizes.runs:
            raise RuntimeError(f"the reader saw {n} new runs of {sizes.runs} (spread)")
        rows["spread"].s3.append(total)
        print(f"  repetition {rep + 1}/{sizes.reps} done", flush=True)


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s" if values else "-"


def markdown(rows: list[Row], meta: dict[str, str]) -> str:
    lines = ["# Store on S3-compatible object storage (SeaweedFS on 127.0.0.1)", "",
             "| measurement | local (median) | s3 (median) | s3 samples | value | target | |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        value = f"{r.value:.2f}x" if r.kind == "ratio" else f"{r.value:.2f} s"
        target = "—" if r.target is None else (
            f"≤ {r.target:g}x" if r.kind == "ratio" else f"< {r.target:g} s")
        status = "—" if r.met is None else "met" if r.met else "**missed**"
        label = f"{r.label} ({r.note})" if r.note else r.label
        lines.append(f"| {label} | {_cell(r.local)} | {_cell(r.s3)} | "
                     f"{', '.join(f'{s:.2f}' for s in r.s3)} | {value} | {target} | "
                     f"{status} |")
    lines += ["", *(f"- **{k}**: {v}" for k, v in meta.items()), "",
              "Every figure is a fresh Python process. Logging: the clock starts after "
              "`set_experiment` and stops when the last `end_run` returned (flushed and "
              "compacted; for s3 the push runs in the background), or, in the rows "
              "'with exit', when the process's exit hooks are done (the final flush and, "
              "for s3, the synchronous final push); local and s3 alternate. Refresh: a reader "
              "that has queried the store waits; the runs are put in the bucket; the clock "
              "covers its next `pull` and `search_runs` (listing, fetching the new log "
              "segments, indexing them). The server shares the machine's cores."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="100,000 points, 150 short runs, 1,000 runs to refresh, 2 repetitions")
    for name in Sizes.__dataclass_fields__:
        p.add_argument(f"--{name}", type=int)
    p.add_argument("--out", type=Path, default=RESULTS / "s3.md")
    p.add_argument("--json", type=Path, help="also write the raw samples as JSON")
    args = p.parse_args(argv)
    profile = "quick" if args.quick else "full"
    base_sizes = PROFILES[profile]
    sizes = Sizes(*(getattr(args, f) if getattr(args, f) is not None
                    else getattr(base_sizes, f) for f in Sizes.__dataclass_fields__))
    rows = {
        "points": Row(f"`log_metric` x {sizes.points:,}, 1 run: s3 time / local time",
                      2.0, "ratio"),
        "points_exit": Row("... the same, until the exit hooks are done (final push)",
                           None, "ratio"),
        "short": Row(f"{sizes.short} short runs (3 params, 1 tag, 100 points): s3 / local",
                     2.0, "ratio", note="at least one metric object and one push per run"),
        "short_exit": Row("... the same, until the exit hooks are done (final push)",
                          None, "ratio"),
        "refresh": Row(f"refresh: {sizes.runs:,} new runs of one writer, pull + query",
                       2.0, "seconds"),
        "spread": Row(f"refresh: {sizes.runs:,} new runs of {sizes.runs:,} writers, "
                      "pull + query", 2.0, "seconds",
                      note="a sweep's shape: one request per writer"),
    }
    load_before = os.getloadavg()[0]
    t_start = time.perf_counter()
    print(f"s3 benchmark ({profile}): {sizes}", flush=True)
    with tempfile.TemporaryDirectory(prefix="trackbook-s3-bench-") as tmp_text:
        tmp = Path(tmp_text)
        with SeaweedS3(tmp / "seaweedfs") as server:
            os.environ.update(server.env())
            os.environ.pop("AWS_PROFILE", None)
            measure(f"s3://{server.bucket}/bench-{uuid.uuid4().hex[:8]}", tmp, sizes, rows)
    meta = run_meta("s3_bench.py", argv, f"{profile}: {sizes}", load_before, t_start)
    write_report(markdown(list(rows.values()), meta), args.out, args.json, meta, [
        {"label": r.label, "kind": r.kind, "target": r.target, "local": r.local,
         "s3": r.s3, "value": r.value, "met": r.met} for r in rows.values()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
