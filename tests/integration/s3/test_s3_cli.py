"""The ``trackbook`` command line on an ``s3://`` store (real SeaweedFS): every command
pulls before it reads, ``gc`` deletes a run's objects from the bucket, and
``import-mlflow`` imports into the bucket; each command runs as its own process on a
"machine" with a replica of its own."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from s3_store_helpers import Machines, finish, reader

import trackbook as tb
from trackbook.store.objects import S3Objects

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mlflow"

WRITER = """
import sys
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
tb.set_experiment("cli-exp")
for name in sys.argv[2].split(","):
    with tb.start_run(run_name=name) as run:
        tb.log_param("name", name)
        tb.log_metric("acc", 0.5)
        tb.log_text("hello " * 1000, "notes/hello.txt")
        print(run.info.run_id)
if len(sys.argv) > 3:
    tb.delete_run(sys.argv[3])
"""


def _cli(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TRACKBOOK_STORE"}
    env.update(TRACKBOOK_CACHE_DIR=str(cache), TRACKBOOK_HOST=cache.name)
    return subprocess.run([sys.executable, "-m", "trackbook", *args], env=env, cwd=cache.parent,
                          capture_output=True, text=True, timeout=120)


def _json(cache: Path, *args: str) -> Any:
    done = _cli(cache, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def machines(tmp_path: Path):
    m = Machines(tmp_path)
    yield m
    m.close()


def test_cli_reads_pulls_and_gc_deletes_from_the_bucket(
        s3_url: str, machines: Machines, tmp_path: Path) -> None:
    cli = tmp_path / "cli-machine"
    r0, r1 = finish(machines.start("writer", WRITER, s3_url, "r0,r1")).split()
    runs = _json(cli, "runs", "--store", s3_url)
    assert sorted(r["run_name"] for r in runs) == ["r0", "r1"]

    # more runs, and a deletion, from the writer: the same CLI replica sees them at once
    (r2,) = finish(machines.start("writer", WRITER, s3_url, "r2", r0)).split()
    runs = _json(cli, "runs", "--store", s3_url)
    assert sorted(r["run_name"] for r in runs) == ["r1", "r2"]
    (exp,) = [e for e in _json(cli, "experiments", "--store", s3_url) if e["name"] == "cli-exp"]
    assert (exp["runs"], exp["deleted_runs"]) == (2, 1)

    assert _json(cli, "registry", "list", "--store", s3_url) == []  # opens, reads

    bucket = S3Objects(s3_url)
    assert [o for o in bucket.list(f"runs/{r0}/") if o.key.endswith("hello.txt")]
    done = _cli(cli, "gc", "--store", s3_url)
    assert done.returncode == 0, done.stderr
    assert f"deleted run {r0}" in done.stdout
    assert list(bucket.list(f"runs/{r0}/")) == []  # the bucket's objects, not just the replica
    assert list(bucket.list(f"runs/{r1}/"))

    # a third machine no longer sees the purged run at all
    everything = _json(tmp_path / "third", "runs", "--store", s3_url, "--view", "all")
    assert sorted(r["run_id"] for r in everything) == sorted([r1, r2])


def test_cli_on_a_missing_s3_store_says_so_and_creates_nothing(
        s3_url: str, tmp_path: Path) -> None:
    done = _cli(tmp_path / "cli-machine", "runs", "--store", s3_url)
    assert done.returncode == 1
    assert f"store {s3_url} does not exist" in done.stderr
    assert not S3Objects(s3_url).exists("FORMAT")


def test_import_mlflow_into_an_s3_store(s3_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "mlflow"
    shutil.copytree(FIXTURES / "sqlite-base", src, ignore=shutil.ignore_patterns("*.gz"))
    with gzip.open(FIXTURES / "sqlite-base" / "mlflow.db.gz", "rb") as f, \
            open(src / "mlflow.db", "wb") as g:
        shutil.copyfileobj(f, g)
    done = _cli(tmp_path / "importer", "import-mlflow", str(src / "mlflow.db"),
                "--artifacts", str(src / "mlartifacts"), "--store", s3_url, "--quiet")
    assert done.returncode == 0, done.stderr

    truth = json.loads((FIXTURES / "sqlite-base.json").read_text())
    with reader(s3_url, tmp_path / "third", monkeypatch):
        client = tb.Client()
        for r in truth["runs"]:
            run = client.get_run(r["run_id"])
            # a run RUNNING in MLflow is, once the importing process has exited, one whose
            # writer is gone: KILLED (as on a folder store)
            status = "KILLED" if r["status"] == "RUNNING" else r["status"]
            assert (run.info.status, run.data.params) == (status, r["params"])
            for key, points in r["metrics"].items():
                got = client.get_metric_history(r["run_id"], key)
                assert len(got) == len(points), key
            if r["artifacts"]:
                root = Path(client.download_artifacts(r["run_id"], ""))
                files = {p.relative_to(root).as_posix(): p.stat().st_size
                         for p in root.rglob("*") if p.is_file()}
                for name, size in r["artifacts"]:  # (logged models are placed here too)
                    assert files.get(name) == size, name
