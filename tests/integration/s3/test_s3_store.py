"""A store on S3-compatible object storage (``s3://bucket/prefix``), against a real
SeaweedFS server: several "machines" (processes with separate replica folders and host
names) log at once, and a reader with a third replica sees everything."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from s3_store_helpers import Machines, finish, forget_s3_stores, reader, wait_for

import trackbook as tb
from trackbook._errors import StoreError
from trackbook.store import events, session
from trackbook.store.objects import S3Objects

POINTS = 1500

WRITER = f"""
import sys, time
from pathlib import Path
import trackbook as tb
url, machine, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tb.set_tracking_uri(url)
tb.set_experiment("shared")
folder = Path("files-" + machine)
(folder / "sub").mkdir(parents=True, exist_ok=True)
(folder / "weights.bin").write_bytes(bytes(range(256)) * 400)
(folder / "sub" / "notes.txt").write_text("from " + machine)
for i in range(n):
    with tb.start_run(run_name=f"{{machine}}-{{i}}") as run:
        tb.log_params({{"machine": machine, "i": i}})
        tb.set_tags({{"t": f"{{machine}}{{i}}"}})
        for step in range({POINTS}):
            tb.log_metric("m", step + i / 10, step=step)
            if i == 0 and step == 700:
                time.sleep(1.3)  # the background flusher pushes mid-run
        tb.log_metrics({{"a": 1.0, "b": float(i)}}, step=0)
        tb.log_dict({{"machine": machine, "i": i}}, "meta/info.json")
        if i == 0:
            tb.log_artifacts(str(folder), "bundle")
        print(run.info.run_id, flush=True)
"""


POLLER = """
import sys, time
import trackbook as tb
from trackbook.store import pull
pull.PULL_SECONDS = 0.0
tb.set_tracking_uri(sys.argv[1])
deadline, cap = time.time() + float(sys.argv[2]), time.time() + 60
n = 0
while (time.time() < deadline or n == 0) and time.time() < cap:  # pulls into the replica
    if tb.get_experiment_by_name("shared"):
        n = max(n, len(tb.search_runs(experiment_names=["shared"])))
    time.sleep(0.05)
print(n)
"""


@pytest.fixture
def machines(tmp_path: Path):
    m = Machines(tmp_path)
    yield m
    m.close()


def test_machines_log_concurrently_and_a_third_replica_sees_everything(
        s3_url: str, machines: Machines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 3
    # small chunks: every run has several chunk files and is compacted at its end
    procs = [machines.start(name, WRITER, s3_url, name, str(n), TRACKBOOK_FLUSH_POINTS="200")
             for name in ("machine-a", "machine-b")]
    # a second process on machine-a shares its replica and pulls while machine-a writes
    poller = machines.start("machine-a", POLLER, s3_url, "5")
    with reader(s3_url, tmp_path / "reader", monkeypatch):
        seen = 0
        while any(p.poll() is None for p in procs):  # reading while they write never fails
            df = tb.search_runs(experiment_names=["shared"]) \
                if tb.get_experiment_by_name("shared") else []
            assert len(df) >= seen
            seen = len(df)
            time.sleep(0.2)
        ids = {name: finish(p).split() for name, p in zip(("a", "b"), procs, strict=True)}
        assert all(len(v) == n for v in ids.values())
        assert 0 < int(finish(poller)) <= 2 * n

        df = tb.search_runs(experiment_names=["shared"])
        assert sorted(df["tags.mlflow.runName"]) == sorted(
            f"machine-{m}-{i}" for m in "ab" for i in range(n))
        assert set(df["status"]) == {"FINISHED"}
        client = tb.Client()
        for m, run_ids in ids.items():
            for i, run_id in enumerate(run_ids):
                run = client.get_run(run_id)
                assert run.data.params == {"machine": f"machine-{m}", "i": str(i)}
                assert run.data.tags["t"] == f"machine-{m}{i}"
                assert run.data.metrics == {"m": POINTS - 1 + i / 10, "a": 1.0, "b": float(i)}
                hist = client.get_metric_history(run_id, "m")
                assert [p.step for p in hist] == list(range(POINTS))
                assert [p.value for p in hist] == [s + i / 10 for s in range(POINTS)]
                info = json.loads(Path(client.download_artifacts(run_id, "meta/info.json"))
                                  .read_text())
                assert info == {"machine": f"machine-{m}", "i": i}
            dst = tmp_path / f"got-{m}"
            client.download_artifacts(run_ids[0], "bundle", str(dst))
            assert (dst / "bundle" / "weights.bin").read_bytes() == bytes(range(256)) * 400
            assert (dst / "bundle" / "sub" / "notes.txt").read_text() == f"from machine-{m}"
        total = tb.sql("SELECT count(*) AS n FROM metrics")["n"][0]
        assert total == 2 * n * (POINTS + 2)
        # compacted at run end: the chunks uploaded meanwhile were deleted from the bucket
        keys = [o.key for o in S3Objects(s3_url).list("runs/") if "/artifacts/" not in o.key]
        assert sorted(k.split("/", 1)[1] for k in keys) == sorted(
            f"{r}/m-00000001.parquet" for v in ids.values() for r in v)

    # machine-a's own replica holds its own log: pulling must not append it a second time
    with reader(s3_url, tmp_path / "machine-a", monkeypatch):
        df = tb.search_runs(experiment_names=["shared"])
        assert len(df) == 2 * n
        assert tb.sql("SELECT count(*) AS n FROM metrics")["n"][0] == 2 * n * (POINTS + 2)
        assert list(df["metrics.m"]) == list(df["metrics.m"])  # no NaN from a lost summary
        counts = tb.sql("SELECT run_id, count(*) AS n FROM metrics GROUP BY run_id")
        assert set(counts["n"]) == {POINTS + 2}


RACE = """
import sys, time
import trackbook as tb
url, at = sys.argv[1], float(sys.argv[2])
tb.set_tracking_uri(url)
tb.get_experiment_by_name("warm-up")  # connect first, so both race on the claim only
time.sleep(max(0.0, at - time.time()))
print(tb.set_experiment("race").experiment_id, flush=True)
"""


def test_experiment_created_by_name_on_two_machines_is_one_experiment(
        s3_url: str, machines: Machines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = str(time.time() + 4)
    procs = [machines.start(name, RACE, s3_url, at) for name in ("m1", "m2", "m3")]
    got = {finish(p).strip() for p in procs}
    assert len(got) == 1, got
    with reader(s3_url, tmp_path / "reader", monkeypatch):
        exps = [e for e in tb.search_experiments() if e.name == "race"]
        assert [e.experiment_id for e in exps] == list(got)


KILLED = """
import sys, time
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
tb.set_experiment("kill")
run = tb.start_run(run_name="doomed")
tb.log_params({"lr": 0.1})
for step in range(500):
    tb.log_metric("x", float(step), step=step)
tb.flush()  # pushes: these points are in the bucket
print(run.info.run_id, flush=True)
step = 500
while True:  # keep logging (and flushing in the background) until killed
    tb.log_metric("x", float(step), step=step)
    step += 1
    time.sleep(0.0005)
"""


def test_sigkilled_writer_keeps_what_it_pushed_and_turns_killed_when_its_heartbeat_is_stale(
        s3_url: str, machines: Machines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = machines.start("doomed-host", KILLED, s3_url, TRACKBOOK_HEARTBEAT_SECONDS="0.2")
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read()
    time.sleep(1.5)  # a background push or two while it logs
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    monkeypatch.setattr(events, "STALE_AFTER_SECONDS", 3.0)
    with reader(s3_url, tmp_path / "reader", monkeypatch):
        client = tb.Client()
        run = client.get_run(run_id)
        (beat,) = (tmp_path / "reader").glob("s3/*/*/writers/*.json")
        age = time.time() - json.loads(beat.read_text())["heartbeat"] / 1000
        if age < 2.5:  # another host: alive (no /proc check) until its heartbeat is stale
            assert run.info.status == "RUNNING"
        run = wait_for(lambda: (r := client.get_run(run_id)).info.status == "KILLED" and r,
                       timeout=15)
        assert run.info.end_time is not None
        assert run.info.end_time >= run.info.start_time
        assert run.data.params == {"lr": "0.1"}
        steps = [p.step for p in client.get_metric_history(run_id, "x")]
        assert steps[:500] == list(range(500))
        assert steps == list(range(len(steps))), "points torn or duplicated"
        assert run.data.metrics["x"] == float(steps[-1])


def test_clear_errors_for_missing_bucket_bad_or_no_credentials_unreachable_endpoint(
        s3_env: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trackbook.tracking.uri import get_store

    monkeypatch.setenv("TRACKBOOK_CACHE_DIR", str(tmp_path))
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist at http"):
        get_store("s3://no-such-bucket/x")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "wrong")
    with pytest.raises(StoreError, match="refused the credentials"):
        get_store("s3://trackbook-test/creds")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(StoreError, match=r"cannot reach the S3 endpoint http://127\.0\.0\.1:9"):
        get_store("s3://trackbook-test/x")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match="no credentials for s3://trackbook-test/none"):
        get_store("s3://trackbook-test/none")
    forget_s3_stores()


def test_flush_pushes_at_once_and_a_run_end_within_a_moment(
        s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = S3Objects(s3_url)
    monkeypatch.setattr(session, "FLUSH_SECONDS", 30.0)  # no timed push in this test
    with reader(s3_url, tmp_path / "here", monkeypatch):
        tb.set_experiment("here")
        with tb.start_run() as run:
            tb.log_metric("x", 1.0)
            tb.flush()  # synchronous: the chunk and the log segment naming it are there now
            keys = {o.key for o in bucket.list("")}
            assert any(k.startswith(f"runs/{run.info.run_id}/c-") for k in keys)
            assert any(k.startswith("log/") for k in keys)
            tb.log_text("hi", "a.txt")
        # run end wakes the background push (the timed one is 30 s away)
        wait_for(lambda: bucket.exists(f"runs/{run.info.run_id}/artifacts/a.txt"),
                 timeout=10, every=0.01)


TRIAL = """
import trackbook as tb  # TRACKBOOK_STORE is the replica folder, as projects hand it on
tb.set_experiment("trials")
with tb.start_run() as run:
    tb.log_metric("score", 0.5)
print(run.info.run_id)
"""


def test_a_process_handed_the_replica_folder_keeps_syncing_it(
        s3_url: str, machines: Machines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with reader(s3_url, tmp_path / "launcher", monkeypatch):
        folder = tb.Client().store.root  # what tb.projects passes as TRACKBOOK_STORE
    run_id = finish(machines.start("launcher", TRIAL, TRACKBOOK_STORE=str(folder))).strip()
    with reader(s3_url, tmp_path / "elsewhere", monkeypatch):
        store = tb.Client().store
        assert tb.Client().get_run(run_id).data.metrics == {"score": 0.5}
        # the pull prefetches new metric files, for readers by path (the curves widget)
        wait_for(lambda: list(store.layout.metrics_dir(run_id).glob("*.parquet")))


UNPUSHED = """
import sys, time
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
tb.set_experiment("lost?")
run = tb.start_run()
tb.log_params({"p": 1})
for step in range(1000):  # chunks of 100 written inline; the background push waits 60 s
    tb.log_metric("x", float(step), step=step)
print(run.info.run_id, flush=True)
time.sleep(600)
"""

NEXT = """
import sys
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
tb.set_experiment("next")
with tb.start_run():
    tb.log_metric("y", 1.0)
"""


def test_what_a_killed_writer_left_unpushed_is_pushed_by_the_next_process_on_its_machine(
        s3_url: str, machines: Machines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = machines.start("m", UNPUSHED, s3_url, TRACKBOOK_FLUSH_POINTS="100",
                          TRACKBOOK_FLUSH_SECONDS="60")
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not any(k.key.startswith("log/") for k in S3Objects(s3_url).list(""))
    finish(machines.start("m", NEXT, s3_url))  # same machine, same replica
    monkeypatch.setattr(events, "STALE_AFTER_SECONDS", 1.0)
    with reader(s3_url, tmp_path / "reader", monkeypatch):
        client = tb.Client()
        # KILLED once the killed writer's last heartbeat is a second old (it may not be
        # yet: the kill and the next process take well under a second)
        run = wait_for(lambda: (r := client.get_run(run_id)).info.status == "KILLED" and r)
        assert run.data.params == {"p": "1"}
        assert [p.step for p in client.get_metric_history(run_id, "x")] == list(range(1000))


FIRST_HALF = """
import sys
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
with tb.start_run() as run:
    for step in range(700):  # 7 chunks: compacted at run end into m-00000001
        tb.log_metric("x", float(step), step=step)
print(run.info.run_id)
"""

SECOND_HALF = """
import sys
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
with tb.start_run(run_id=sys.argv[2]):  # resumed on another machine
    for step in range(700, 1400):
        tb.log_metric("x", float(step), step=step)
"""


def test_a_run_resumed_on_another_machine_continues_its_compacted_metrics(
        s3_url: str, machines: Machines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = finish(machines.start("a", FIRST_HALF, s3_url, TRACKBOOK_FLUSH_POINTS="100"))
    run_id = run_id.strip()
    finish(machines.start("b", SECOND_HALF, s3_url, run_id, TRACKBOOK_FLUSH_POINTS="100"))
    files = [o.key.rsplit("/", 1)[1] for o in S3Objects(s3_url).list(f"runs/{run_id}/")]
    assert files == ["m-00000002.parquet"]  # b's compaction covers a's file and its chunks
    with reader(s3_url, tmp_path / "c", monkeypatch):
        client = tb.Client()
        assert [p.step for p in client.get_metric_history(run_id, "x")] == list(range(1400))
        assert client.get_run(run_id).info.status == "FINISHED"
        assert tb.sql("SELECT count(*) AS n FROM metrics")["n"][0] == 1400


def test_a_loop_of_short_runs_shares_pushes_and_every_run_arrives(
        s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ends wake the background push at most every PUSH_GAP_SECONDS: fewer log
    segments than runs, and nothing is left behind."""
    bucket = S3Objects(s3_url)
    with reader(s3_url, tmp_path / "here", monkeypatch):
        tb.set_experiment("loop")
        ids = []
        for i in range(30):
            with tb.start_run() as run:
                tb.log_param("i", i)
                tb.log_metric("x", float(i))
            ids.append(run.info.run_id)
        # the last run end is in the bucket within a gap, without a flush
        wait_for(lambda: any(k.key.startswith(f"runs/{ids[-1]}/") for k in bucket.list("runs/"))
                 and len(list(bucket.list("log/"))) >= 1, timeout=10, every=0.05)
        segments = len(list(bucket.list("log/")))
        assert 1 <= segments < 30
    with reader(s3_url, tmp_path / "other", monkeypatch):
        wait_for(lambda: len(tb.search_runs(experiment_names=["loop"])) == 30
                 and set(tb.search_runs(experiment_names=["loop"])["status"]) == {"FINISHED"})
        client = tb.Client()
        assert client.get_run(ids[-1]).data.metrics == {"x": 29.0}
