"""Project runs and sweeps on an ``s3://`` store, against a real SeaweedFS and a real Ray:
the trial commands run "on another machine" (a replica folder of their own, and another
host name), so they can only reach the store through the bucket, and a third replica sees
every trial's run, params and metrics."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from s3_store_helpers import forget_s3_stores, reader

import trackbook as tb

MLPROJECT = """\
name: s3probe
entry_points:
  train:
    parameters:
      x: int
    command: "python train.py {x}"
"""
# The trial moves itself to "node-b": its own replica folder and host name.
TRAIN = """\
import os, sys
os.environ["TRACKBOOK_CACHE_DIR"] = os.environ["TRIAL_CACHE_DIR"]
os.environ["TRACKBOOK_HOST"] = "node-b"
import trackbook as tb
x = int(sys.argv[1])
with tb.start_run() as run:
    for step in range(40):
        tb.log_metric("curve", x * 100 + step, step=step)
    tb.log_metric("square", x * x)
    tb.set_tags({"trial_store": os.environ["TRACKBOOK_STORE"],
                 "trial_replica": str(tb.Client().store.root)})
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "s3probe"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text(TRAIN)
    return folder


def _check_from_a_third_replica(url: str, sweep_id: str, xs: list[int], node_b: Path,
                                cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forget_s3_stores()
    with reader(url, cache, monkeypatch):
        runs = tb.search_runs(filter_string=f"tags.sweep_id = '{sweep_id}'",
                              search_all_experiments=True, output_format="list")
        assert sorted(int(r.data.params["x"]) for r in runs) == xs
        client = tb.Client()
        assert str(client.store.root).startswith(str(cache))
        for run in runs:
            x = int(run.data.params["x"])
            assert run.info.status == "FINISHED", run.data.tags
            assert run.data.tags["trial_store"] == url  # not the launcher's replica folder
            assert run.data.tags["trial_replica"].startswith(str(node_b))
            assert run.data.metrics["square"] == x * x
            history = client.get_metric_history(run.info.run_id, "curve")
            assert [(m.step, m.value) for m in history] == \
                [(s, x * 100 + s) for s in range(40)]
            stdout = client.download_artifacts(run.info.run_id, "logs/stdout.txt")
            assert Path(stdout).is_file()
        parent = tb.get_run(sweep_id)
        assert parent.info.status == "FINISHED"
        assert parent.data.tags["trackbook.sweep.finished"] == str(len(xs))


def test_a_local_sweep_on_an_s3_store_gives_trials_the_url_not_the_replica(
        s3_url: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_CACHE_DIR", str(tmp_path / "node-b"))
    with reader(s3_url, tmp_path / "launcher", monkeypatch):
        sweep = tb.projects.sweep(project, "train", grid={"x": [1, 2]}, max_parallel=2,
                                  progress=False)
        assert sweep.wait(timeout=120), sweep.failures
    _check_from_a_third_replica(s3_url, sweep.id, [1, 2], tmp_path / "node-b",
                                tmp_path / "third", monkeypatch)


def test_a_ray_sweep_on_an_s3_store_logs_from_the_nodes_into_the_bucket(
        ray_session: None, s3_url: str, project: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_CACHE_DIR", str(tmp_path / "node-b"))
    # The Ray workers (which record each trial's end) have a replica of their own too;
    # a node gets the endpoint and credentials from its environment.
    worker_env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    worker_env.update(TRACKBOOK_CACHE_DIR=str(tmp_path / "ray-worker"),
                      TRACKBOOK_HOST="ray-worker")
    with reader(s3_url, tmp_path / "launcher", monkeypatch):
        sweep = tb.projects.sweep(project, "train", grid={"x": [3, 4]}, max_parallel=2,
                                  backend="ray", progress=False,
                                  ray_options={"runtime_env": {"env_vars": worker_env}})
        assert sweep.wait(timeout=180), sweep.failures
    assert list((tmp_path / "ray-worker").glob("s3/*/*/log/*.jsonl"))  # it logged there
    _check_from_a_third_replica(s3_url, sweep.id, [3, 4], tmp_path / "node-b",
                                tmp_path / "third", monkeypatch)
