"""Speed of an s3:// store against a local SeaweedFS, next to a local store.

    .venv/bin/python tests/integration/s3/measure_s3_store.py [--runs 1000] [--points 200000]
        [--short 300] [--repeat 1]

Not a test (pytest does not collect it). Uses the server that $AWS_ENDPOINT_URL points at
(e.g. one started by ``python tests/s3server.py``), else starts one. Every figure comes
from a fresh Python process, as a training script or a notebook would see it:

- logging throughput per process: one run of ``--points`` log_metric calls, and
  ``--short`` short runs (params, tags, 100 points each): the loop (what the training
  script waits for; the s3 push runs in the background), and the loop plus the exit
  hooks (the final flush and, for s3, the synchronous final push);
- refresh of ``--runs`` new runs: a reader that is up to date lists and folds in the new
  runs with its next query (the issue's target: under 2 s), for runs from one writer and
  for the same runs spread over one writer each (a sweep's shape).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: s3server

from s3server import SeaweedS3

# Registered before trackbook's own exit hook, so it runs after the final flush and push.
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


def python(code: str, *args: str, cache: Path, **env: str) -> str:
    environ = dict(os.environ, TRACKBOOK_CACHE_DIR=str(cache), **env)
    environ.pop("TRACKBOOK_STORE", None)
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=environ, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return out.stdout.strip()


def refresh(url: str, exp: str, cache: Path, make_runs: object) -> tuple[int, float, float]:
    environ = dict(os.environ, TRACKBOOK_CACHE_DIR=str(cache))
    proc = subprocess.Popen([sys.executable, "-c", REFRESH, url, exp], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=environ)
    assert proc.stdout.readline().startswith("ready")
    make_runs()  # type: ignore[operator]
    out, _ = proc.communicate("go\n", timeout=600)
    n, pull, total = out.split()
    return int(n), float(pull), float(total)


def spread_over_writers(url: str, prefix_from: str, prefix_to: str) -> int:
    """Copy the runs logged under ``prefix_from`` into ``prefix_to`` as if each had been
    logged by its own writer process (the shape of a sweep: one run per process): one
    closed heartbeat (carrying the segment, as a writer's does) and one segment per run.
    Returns the number of writers."""
    from trackbook.store.objects import S3Objects

    src, dst = S3Objects(f"{url}/{prefix_from}"), S3Objects(f"{url}/{prefix_to}")
    dst.put("FORMAT", src.get("FORMAT"))
    for o in src.list("experiments/"):
        dst.put(o.key, src.get(o.key))
    by_run: dict[str, list[bytes]] = {}
    for o in src.list("log/"):
        for line in src.get(o.key).splitlines():
            by_run.setdefault(json.loads(line).get("run", ""), []).append(line + b"\n")
    beat = json.loads(src.get(next(o.key for o in src.list("writers/"))))
    with ThreadPoolExecutor(8) as pool:
        def put(item: tuple[int, list[bytes]]) -> None:
            i, lines = item
            writer = f"{int(time.time() * 1000):x}-{i}-sweep"
            segment = b"".join(lines)
            dst.put(f"log/{writer}/000000000000.jsonl", segment)
            dst.put(f"writers/{writer}.json", json.dumps(dict(
                beat, writer_id=writer, segments=1, closed=True, last=segment.decode()
            )).encode())
        list(pool.map(put, enumerate(by_run.values())))
    return len(by_run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--short", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, each on fresh prefixes")
    args = parser.parse_args()
    print("load:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="measure-s3-store-") as tmp_text:
        tmp = Path(tmp_text)
        server = None
        if not os.environ.get("AWS_ENDPOINT_URL"):
            server = SeaweedS3(tmp / "seaweedfs").start()
            os.environ.update(server.env())
        bucket = server.bucket if server else "trackbook-test"
        try:
            for i in range(args.repeat):
                base = f"s3://{bucket}/measure-{uuid.uuid4().hex[:8]}"
                print(f"-- round {i + 1} of {args.repeat}, load:",
                      " ".join(f"{x:.2f}" for x in os.getloadavg()))
                measure_round(base, bucket, tmp / f"round-{i}", args)
        finally:
            if server is not None:
                server.stop()
    print("load:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


def measure_round(base: str, bucket: str, tmp: Path, args: argparse.Namespace) -> None:
    """One of each measurement, into fresh prefixes under ``base``."""
    local = str(tmp / "local-store")
    for what, code, n, extra in (
            (f"log_metric x {args.points:,}, 1 run", LOG_POINTS, args.points, ()),
            (f"{args.short} short runs", SHORT_RUNS, args.short, ("short",))):
        # (seconds of the loop, seconds until the process's exit hooks are done)
        loc = [float(x) for x in python(code, local, str(n), *extra,
                                        cache=tmp / "c0").split()]
        s3 = [float(x) for x in python(code, f"{base}/a", str(n), *extra,
                                       cache=tmp / "c1").split()]
        print(f"{what:32} local {loc[0]:6.2f} s   s3 {s3[0]:6.2f} s   "
              f"ratio {s3[0] / loc[0]:4.2f}   ({n / loc[0]:,.0f} vs {n / s3[0]:,.0f}/s)"
              f"   with exit: {loc[1]:.2f} vs {s3[1]:.2f} s, ratio {s3[1] / loc[1]:4.2f}")

    url = f"{base}/b"
    n, pull, total = refresh(url, "many", tmp / "reader", lambda: python(
        SHORT_RUNS, url, str(args.runs), "many", cache=tmp / "writer"))
    print(f"refresh {n} new runs, 1 writer:        pull {pull:5.2f} s, "
          f"pull + index {total:5.2f} s")
    bucket_url = f"s3://{bucket}"
    n, pull, total = refresh(
        f"{base}/c", "many", tmp / "reader2",
        lambda: spread_over_writers(bucket_url, url[len(bucket_url) + 1:],
                                    f"{base}/c"[len(bucket_url) + 1:]))
    print(f"refresh {n} new runs, 1 writer each:   pull {pull:5.2f} s, "
          f"pull + index {total:5.2f} s")


if __name__ == "__main__":
    main()
