"""MLflow 3 logged models on an ``s3://`` store, against a real SeaweedFS server: a model
logged on one "machine" (a process with its own replica folder) loads on another by
``models:/m-<id>`` and ``runs:/<run>/<name>``, and is never seen there half pushed."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import pytest
from s3_store_helpers import Machines, finish, reader, wait_for

import trackbook as tb
from trackbook.store.objects import S3Objects

LOG_MODEL = """
import sys
import numpy as np
from sklearn.linear_model import LinearRegression
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
X = np.arange(8, dtype=float).reshape(-1, 1)
with tb.start_run() as run:
    info = tb.sklearn.log_model(LinearRegression().fit(X, 3 * X[:, 0] + 1), name="model")
print(run.info.run_id, info.model_id)
"""

# A logged model of several files, pushed by tb.flush(); with KILL_AT=k the process dies
# (SIGKILL) just before the k-th PUT of one of the model's files.
LOG_FILES = """
import os, signal, sys, time
from pathlib import Path
import trackbook as tb
from trackbook.store.objects import S3Objects
tb.set_tracking_uri(sys.argv[1])
kill_at, puts = int(os.environ.get("KILL_AT", "0")), []
real_put = S3Objects._put
def put(self, full, data, if_none_match=False):
    if "/models/" in "/" + full:
        puts.append(full)
        if len(puts) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_put(self, full, data, if_none_match)
S3Objects._put = put
model = tb.initialize_logged_model(name="files")
print(model.model_id, flush=True)
tb.MlflowClient().log_model_artifacts(model.model_id, sys.argv[2])
tb.flush()  # PENDING: the model is in the bucket's log, its files are not
assert not puts, puts
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.01)
tb.finalize_logged_model(model.model_id, "READY")
tb.flush()
print(len(puts), flush=True)
"""

TOUCH = """
import sys
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
with tb.start_run():
    tb.log_param("p", 1)
"""


@pytest.fixture
def machines(tmp_path: Path):
    m = Machines(tmp_path)
    yield m
    m.close()


def _model_files(tmp_path: Path) -> Path:
    src = tmp_path / "model-files"
    (src / "data").mkdir(parents=True)
    (src / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    for i in range(6):
        (src / "data" / f"part-{i}.bin").write_bytes(os.urandom(2048 + i))
    return src


def _same_tree(a: Path, b: Path) -> bool:
    """The same files, leaving out the registered_model_meta a models:/ download adds to
    its copy (as MLflow's does)."""
    cmp = filecmp.dircmp(a, b, ignore=["registered_model_meta"])
    return not (cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files) and \
        all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_a_logged_model_on_one_machine_loads_by_its_id_on_another(
        s3_url: str, machines: Machines, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_id, model_id = finish(machines.start("a", LOG_MODEL, s3_url), timeout=120).split()
    keys = {o.key for o in S3Objects(s3_url).list(f"models/{model_id}/")}
    assert f"models/{model_id}/artifacts/MLmodel" in keys
    files = tmp_path / "reader"
    with reader(s3_url, files, monkeypatch):
        assert not list(files.glob(f"s3/*/*/models/{model_id}/*"))  # never seen here
        model = tb.pyfunc.load_model(f"models:/{model_id}")
        assert model.predict([[10.0]])[0] == pytest.approx(31.0)
        (here,) = files.glob(f"s3/*/*/models/{model_id}/artifacts")
        assert {f"models/{model_id}/artifacts/{p.relative_to(here).as_posix()}"
                for p in here.rglob("*") if p.is_file()} == keys
        by_run = tb.pyfunc.load_model(f"runs:/{run_id}/model")
        assert by_run.predict([[2.0]])[0] == pytest.approx(7.0)
        # Downloads land as MLflow 3 puts them: models:/ in dst itself, runs:/ under its name.
        got = tb.artifacts.download_artifacts(f"models:/{model_id}",
                                              dst_path=str(tmp_path / "d1"))
        assert got == str(tmp_path / "d1")
        # the copy also holds MLflow's registered_model_meta (a models:/ download's), the
        # replica's folder does not
        assert (Path(got) / "registered_model_meta").is_file()
        assert not (here / "registered_model_meta").exists()
        assert _same_tree(here, Path(got))
        got = tb.artifacts.download_artifacts(f"runs:/{run_id}/model",
                                              dst_path=str(tmp_path / "d2"))
        assert got == str(tmp_path / "d2" / "model")
        assert _same_tree(here, Path(got))
        assert "model/MLmodel" in {f.path for f in
                                   tb.artifacts.list_artifacts(f"runs:/{run_id}/model")}


def test_a_model_shows_on_other_machines_only_once_ready_and_whole(
        s3_url: str, machines: Machines, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    src, go = _model_files(tmp_path), tmp_path / "go"
    proc = machines.start("a", LOG_FILES, s3_url, str(src), str(go))
    model_id = (proc.stdout.readline() if proc.stdout else "").strip()
    assert model_id.startswith("m-"), finish(proc)
    with reader(s3_url, tmp_path / "reader", monkeypatch):
        wait_for(lambda: tb.get_logged_model(model_id) if _known(model_id) else None)
        assert tb.get_logged_model(model_id).status.value == "PENDING"
        assert not list(S3Objects(s3_url).list(f"models/{model_id}/"))
        with pytest.raises(tb.exceptions.MlflowException):
            tb.artifacts.download_artifacts(f"models:/{model_id}")
        go.touch()
        assert int(finish(proc)) == 7  # MLmodel and six data files, each put once
        wait_for(lambda: tb.get_logged_model(model_id).status.value == "READY")
        assert _same_tree(src, Path(tb.artifacts.download_artifacts(f"models:/{model_id}")))


def _known(model_id: str) -> bool:
    try:
        tb.get_logged_model(model_id)
    except tb.exceptions.MlflowException:
        return False
    return True


@pytest.mark.parametrize("kill_at", [1, 4, 7])
def test_a_writer_killed_while_pushing_a_model_leaves_none_and_the_next_process_pushes_it(
        s3_url: str, machines: Machines, tmp_path: Path, kill_at: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    src, go = _model_files(tmp_path), tmp_path / "go"
    go.touch()
    proc = machines.start("a", LOG_FILES, s3_url, str(src), str(go), KILL_AT=str(kill_at))
    model_id = (proc.stdout.readline() if proc.stdout else "").strip()
    assert model_id.startswith("m-"), finish(proc)
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    with reader(s3_url, tmp_path / "reader", monkeypatch):
        # Killed before the segment that makes it READY: readers never see it READY, so
        # never fetch the files already put.
        if _known(model_id):
            assert tb.get_logged_model(model_id).status.value == "PENDING"
        with pytest.raises(tb.exceptions.MlflowException):
            tb.artifacts.download_artifacts(f"models:/{model_id}")
        assert not list((tmp_path / "reader").glob(f"s3/*/*/models/{model_id}/*"))
        # The next process on that machine pushes what the dead one left: files, then log.
        finish(machines.start("a", TOUCH, s3_url), timeout=120)
        wait_for(lambda: _known(model_id)
                 and tb.get_logged_model(model_id).status.value == "READY")
        assert _same_tree(src, Path(tb.artifacts.download_artifacts(f"models:/{model_id}")))
