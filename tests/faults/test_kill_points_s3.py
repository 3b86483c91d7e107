"""SIGKILL at every write step of a writer's pushes to an ``s3://`` store (SeaweedFS).

The fork server of ``test_kill_points.py`` (``_kill_child.py``, phase ``s3life``) runs a run
on an ``s3://`` store in a child (its replica folder and ``TRACKBOOK_HOST`` its own): two
``tb.flush()`` pushes and the one at exit, a compaction on the way. Every local write under
its replica and every PUT / DELETE of its S3 client is one write step; the child dies just
before step k, for every k until a child finishes (the count varies a little). Then a
second machine (one fresh process, another host name and
replica folder, ``TRACKBOOK_STALE_SECONDS=1``) reads each bucket prefix: the run's points are
each seen once; every point of the segments its last heartbeat PUT counts is there, and no
point that is in no metric file PUT; the run is FINISHED if those segments hold its end,
else KILLED once its heartbeat is stale (never RUNNING); and a
``reindex`` of its replica gives the same catalog. The table prints with ``pytest -rA``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_kill_points import Server, report

from s3server import SeaweedS3

POINTS = 14

READER = """
import faulthandler, json, sys, time
faulthandler.dump_traceback_later(150)  # the stacks go to the log if the reader hangs
import trackbook as tb
from trackbook.store import pull
from trackbook.tracking import query
pull.PULL_SECONDS = 0.0
out = {}
for url in sys.argv[1:]:
    t0 = time.perf_counter()
    tb.set_tracking_uri(url)
    client = tb.Client()
    from trackbook.tracking.uri import get_store
    store = get_store()
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    def snap():
        with store.catalog.connect() as con:
            q = lambda sql: sorted(map(list, con.execute(sql).fetchall()))
            return {"runs": q("SELECT run_id, status FROM runs"),
                    "params": q("SELECT run_id, key, value FROM params"),
                    "latest": q("SELECT run_id, key, count, value, step FROM latest_metrics"),
                    "points": int(query.sql(store, "SELECT count(*) AS n FROM metrics")
                                  ["n"].iloc[0])}
    live = snap()
    store.catalog.rebuild()
    rebuilt = snap()
    res = {"live": live, "same": live == rebuilt, "rebuilt": rebuilt, "runs": []}
    for r in runs:
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "loss")]
        res["runs"].append({"status": r.info.status, "steps": steps,
                            "params": dict(r.data.params)})
    out[url] = res
    print(f"{url} {time.perf_counter() - t0:.2f}s", file=sys.stderr, flush=True)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    try:
        server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start()
    except RuntimeError as exc:
        pytest.skip(f"no S3 server: {exc}")
    saved = dict(os.environ)
    os.environ.update(server.env())
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield server
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


def _expect(done: list[str]) -> tuple[int, int, bool]:
    """From the steps ``done``: the points a reader must see (those of the last segment
    that a heartbeat PUT after it counts: readers fetch what the heartbeat says), the most
    it may see (those of every metric file PUT: a reader lists them), and whether the
    counted segments hold the run's end."""
    must = may = 0
    ended = pending_end = False
    pending = 0
    for s in done:
        m = re.search(r"\[(\d+) pts\]", s)
        if s.startswith("put log/"):
            assert m, s
            pending, pending_end = int(m.group(1)), pending_end or s.endswith("+end")
        elif s.startswith("put writers/"):
            must, ended = pending, pending_end
        elif s.startswith("put runs/") and m:
            may = max(may, int(m.group(1)))
    return must, max(may, must), ended


@pytest.mark.slow
def test_kill_during_s3_pushes(s3: SeaweedS3, tmp_path: Path,
                               request: pytest.FixtureRequest) -> None:
    server = Server()
    prefix = f"s3://{s3.bucket}/kill-{uuid.uuid4().hex[:8]}"
    try:
        clean = tmp_path / "clean" / "replica"
        clean.mkdir(parents=True)
        (clean.parent / "s3_url").write_text(f"{prefix}/clean")
        out = server.run(clean, "s3life", 0, "before")
        assert out is not None
        steps: list[str] = out["steps"]
        assert sum(s.startswith("put log/") for s in steps) >= 3, "\n".join(steps)
        cases: dict[str, tuple[int, list[str]]] = {}
        for k in range(1, len(steps) + 20):
            root = tmp_path / f"k{k}" / "replica"
            root.mkdir(parents=True)
            url = f"{prefix}/k{k}"
            (root.parent / "s3_url").write_text(url)
            if server.run(root, "s3life", k, "before") is not None:
                # The step count varies a little between runs (the pusher's timing): the
                # child finished before step k, so every step of it was covered.
                assert k > len(steps) - 10, f"only {k - 1} steps, the clean run took {len(steps)}"
                break
            trace = (root.parent / "trace").read_text().splitlines()
            assert len(trace) == k, (k, trace)
            cases[url] = (k, trace)
    finally:
        server.close()
    time.sleep(1.2)  # every killed writer's heartbeat is stale
    env = {k: v for k, v in os.environ.items() if k != "TRACKBOOK_STORE"}
    env.update(TRACKBOOK_CACHE_DIR=str(tmp_path / "reader-machine"),
               TRACKBOOK_HOST="reader-host", TRACKBOOK_STALE_SECONDS="1")
    log = tmp_path / "reader.log"  # one line per store read, with its seconds
    with log.open("w") as err:
        reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(READER), *cases],
                                  stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        try:
            stdout, _ = reader.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            reader.kill()
            reader.communicate()
            pytest.fail(f"the reader took over 300 s; its log:\n{log.read_text()[-4000:]}")
    assert reader.returncode == 0, log.read_text()
    seen = json.loads(stdout)
    rows: list[tuple[str, ...]] = []
    failures: list[str] = []
    for url, (k, trace) in cases.items():
        points, most, ended = _expect(trace[:k - 1])
        got = seen[url]
        try:
            assert got["same"], f"live {got['live']} != reindexed {got['rebuilt']}"
            if not got["runs"]:
                assert points == 0, f"no run, but {points} points were pushed"
                outcome = "no run"
            else:
                (run,) = got["runs"]
                assert len(run["steps"]) == len(set(run["steps"])), run["steps"]
                seen_steps = set(run["steps"])
                assert set(range(points)) <= seen_steps <= set(range(most)), (
                    sorted(seen_steps), points, most)
                assert got["live"]["points"] == len(seen_steps)
                assert run["status"] == ("FINISHED" if ended else "KILLED"), run["status"]
                outcome = f"{run['status']} {len(seen_steps)} pts (>= {points}, <= {most})"
            rows.append((str(k), "before", trace[k - 1], outcome))
        except AssertionError as exc:
            rows.append((str(k), "before", trace[k - 1], "FAIL"))
            failures.append(f"k={k} ({trace[k - 1]}): {exc}")
    report(request, "SIGKILL before write step k of a run on an s3:// store", rows)
    assert not failures, "\n".join(failures)
