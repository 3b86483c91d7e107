"""The model registry of an ``s3://`` store, against a real SeaweedFS server: "machines"
(processes with separate replica folders) register, move aliases and rename at once, and the
bucket settles every claim, so no two machines take one version."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from s3_store_helpers import Machines, finish, reader

import trackbook as tb
from trackbook._errors import StoreError
from trackbook.registry import RegisteredModelRenamedError, Registry
from trackbook.registry._objects import ObjectFiles
from trackbook.store.objects import ObjectInfo, S3Objects

MACHINES = 4
PER_MACHINE = 5
MOVES = 8

REGISTER = """
import json, sys, time
from pathlib import Path
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
tb.Client().search_registered_models()  # connected and imported before the start line
print("ready", flush=True)
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
print(json.dumps([tb.register_model("/models/shared", "shared-model",
                                    tags={"machine": sys.argv[3]}).version
                  for _ in range(int(sys.argv[4]))]))
"""

MOVE_ALIAS = """
import json, sys, time
from pathlib import Path
import trackbook as tb
from trackbook.registry import on_promotion
tb.set_tracking_uri(sys.argv[1])
fired = []
on_promotion(lambda e: fired.append([e.seq, e.to, e.comment]))
c = tb.Client()
c.get_registered_model("m")
print("ready", flush=True)
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
a, b = int(sys.argv[3]), int(sys.argv[4])
for i in range(int(sys.argv[5])):
    c.set_registered_model_alias("m", "champion", a if i % 2 == 0 else b,
                                 comment=sys.argv[6])
print(json.dumps(fired))
"""

LOG_MODEL = """
import sys
import numpy as np
from sklearn.linear_model import LinearRegression
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
X = np.arange(8, dtype=float).reshape(-1, 1)
model = LinearRegression().fit(X, 3 * X[:, 0] + 1)
with tb.start_run() as run:
    info = tb.sklearn.log_model(model, name="model")
mv = tb.register_model(f"runs:/{run.info.run_id}/model", "clf")
tb.Client().set_registered_model_alias("clf", "champion", mv.version)
print(run.info.run_id, info.model_id, mv.version)
"""

LOAD_RENAMED = """
import sys
import trackbook as tb
from trackbook.cli import main
from trackbook.registry import RegisteredModelRenamedError
tb.set_tracking_uri(sys.argv[1])
print(tb.pyfunc.load_model("models:/clf-prod@champion").predict([[10.0]])[0])
try:
    tb.Client().get_registered_model("clf")
except RegisteredModelRenamedError as exc:
    print("renamed:", exc.new_name)
main(["registry", "list", "--store", sys.argv[1], "--format", "json"])
"""


@pytest.fixture
def machines(tmp_path: Path):
    m = Machines(tmp_path)
    yield m
    m.close()


def _start_together(procs: list[subprocess.Popen[str]], go: Path) -> None:
    """Let the machines go at once, when every one of them is ready (so they do race)."""
    for p in procs:
        line = p.stdout.readline() if p.stdout else ""
        assert line == "ready\n", f"a machine failed to start: {line}{finish(p)}"
    go.touch()


def _registry_keys(url: str, folder: str) -> list[str]:
    return [o.key for o in S3Objects(url).list("registry/") if f"/{folder}/" in o.key]


def test_machines_registering_at_once_get_distinct_consecutive_versions(
        s3_url: str, machines: Machines, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    go = tmp_path / "go"
    # Each machine also races to create the model (register_model creates it if needed).
    procs = [machines.start(f"m{w}", REGISTER, s3_url, str(go), str(w), str(PER_MACHINE))
             for w in range(MACHINES)]
    _start_together(procs, go)
    got = {w: json.loads(finish(p)) for w, p in enumerate(procs)}
    assert all(len(vs) == PER_MACHINE for vs in got.values())
    every = sorted(v for vs in got.values() for v in vs)
    assert every == list(range(1, MACHINES * PER_MACHINE + 1)), got  # none taken twice or lost
    with reader(s3_url, tmp_path / "reader", monkeypatch):
        versions = tb.Client().search_model_versions("name = 'shared-model'")
        assert sorted(v.version for v in versions) == every
        by_machine = {w: sorted(v.version for v in versions if v.tags["machine"] == str(w))
                      for w in range(MACHINES)}
        assert by_machine == {w: sorted(vs) for w, vs in got.items()}
        assert tb.Client().search_registered_models()[0].name == "shared-model"
    assert len(_registry_keys(s3_url, "versions")) == MACHINES * PER_MACHINE
    # The machines' replicas hold no registry of their own: the bucket is the truth.
    assert not list(tmp_path.glob("m*/s3/*/*/registry/*/versions/*"))


def test_alias_moved_from_two_machines_has_one_holder_and_every_move_logged(
        s3_url: str, machines: Machines, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with reader(s3_url, tmp_path / "reader", monkeypatch):
        c = tb.Client()
        c.create_registered_model("m")
        for _ in range(4):
            c.create_model_version("m", "/p")
        go = tmp_path / "go"
        procs = [machines.start("a", MOVE_ALIAS, s3_url, str(go), "1", "2", str(MOVES), "a"),
                 machines.start("b", MOVE_ALIAS, s3_url, str(go), "3", "4", str(MOVES), "b")]
        _start_together(procs, go)
        fired = {name: json.loads(finish(p)) for name, p in zip("ab", procs, strict=True)}
        log = [e for e in c.get_model_version_history("m") if e.action == "alias"]
        assert len(log) == 2 * MOVES  # both machines' moves, none lost
        for before, after in itertools.pairwise(log):  # one consistent chain of holders
            assert after.from_ == before.to
        holder = c.get_model_version_by_alias("m", "champion").version
        assert holder == log[-1].to
        assert [v.version for v in c.search_model_versions("name = 'm'")
                if "champion" in v.aliases] == [holder]
        # Each machine's hooks ran for its own moves only, each on the move it made.
        for name in "ab":
            mine = [[e.seq, e.to, e.comment] for e in log if e.comment == name]
            assert fired[name] == mine
    assert len(_registry_keys(s3_url, "events")) == 2 * MOVES


def test_a_version_registered_on_one_machine_loads_and_a_rename_shows_on_others(
        s3_url: str, machines: Machines, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_id, model_id, version = finish(machines.start("a", LOG_MODEL, s3_url),
                                       timeout=120).split()
    files = f"s3/*/*/models/{model_id}/artifacts/*"
    with reader(s3_url, tmp_path / "reader", monkeypatch):
        # This replica never saw the model (MLflow 3 keeps a logged model's files in the
        # store's models/<id>/artifacts, not the run's): they come from the bucket on load.
        assert not list((tmp_path / "reader").glob(files))
        model = tb.pyfunc.load_model("models:/clf@champion")
        assert model.predict([[10.0]])[0] == pytest.approx(31.0)
        assert {p.name for p in (tmp_path / "reader").glob(files)} >= {"MLmodel", "model.skops"}
        assert not list((tmp_path / "reader").glob(f"s3/*/*/runs/{run_id}/artifacts/*"))
        # As MLflow 3: runs:/<run>/model names no artifact of the run, so the version's
        # source is the logged model it names.
        assert tb.registry.resolve_model_uri("models:/clf/latest") == f"models:/{model_id}"
        assert tb.Client().get_model_version("clf", 1).model_id == model_id
        assert int(version) == 1
        tb.Client().rename_registered_model("clf", "clf-prod")
        with pytest.raises(RegisteredModelRenamedError, match="clf-prod"):
            tb.pyfunc.load_model("models:/clf@champion")
        from trackbook.widgets import registry_panel

        reply, _ = registry_panel("clf-prod").handle_request({"type": "state", "id": "r"})
        assert reply["ok"], reply
        assert [(v["version"], v["aliases"], v["run_id"]) for v in reply["state"]["versions"]] \
            == [(1, ["champion"], run_id)]
    out = finish(machines.start("c", LOAD_RENAMED, s3_url), timeout=120).splitlines()
    assert float(out[0]) == pytest.approx(31.0)
    assert out[1] == "renamed: clf-prod"
    listed = json.loads("\n".join(out[2:]))
    assert [m["name"] for m in listed] == ["clf-prod"]


def test_an_unreachable_bucket_is_named_as_such(s3_env, tmp_path: Path) -> None:
    from botocore.config import Config

    objects = S3Objects(f"s3://{s3_env.bucket}/x", endpoint_url="http://127.0.0.1:9",
                        client_kwargs={"config": Config(retries={"max_attempts": 1})})
    reg = Registry(tmp_path, files=ObjectFiles(objects))
    with pytest.raises(StoreError, match=r"model registry in s3://.*cannot reach the S3 endpoint"):
        reg.model("churn")


class CountingObjects(S3Objects):
    """The real bucket, counting the requests a reader makes."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gets: list[str] = []
        self.lists = 0

    def get(self, key: str) -> bytes:
        self.gets.append(key)
        return super().get(key)

    def list(self, prefix: str = "", start_after: str | None = None):  # type: ignore[override]
        self.lists += 1
        items: list[ObjectInfo] = list(super().list(prefix, start_after))
        return iter(items)


def test_a_reader_fetches_each_file_once_and_keeps_copies_for_the_next_process(
        s3_url: str, tmp_path: Path) -> None:
    writer = Registry(tmp_path / "w", files=ObjectFiles(S3Objects(s3_url)))
    writer.create_model("m")
    for v in range(1, 7):
        writer.create_version("m", "/p")
        writer.set_alias("m", "champion", v)
    first = CountingObjects(s3_url)
    reader_a = Registry(tmp_path / "a", files=ObjectFiles(first, copies=tmp_path / "copies"))
    assert reader_a.by_alias("m", "champion").version == 6
    assert len(first.gets) == 1 + 6 + 6  # model.json, versions, events: each once
    first.gets.clear()
    writer.set_alias("m", "champion", 2)
    assert reader_a.by_alias("m", "champion").version == 2
    assert first.gets == [f"registry/{reader_a._home('m')}/events/{7:012d}.json"]
    # Another process on this machine reads the copies, and lists only what is newer.
    second = CountingObjects(s3_url)
    reader_b = Registry(tmp_path / "b", files=ObjectFiles(second, copies=tmp_path / "copies"))
    assert [e.to for e in reader_b.history("m")] == [e.to for e in reader_a.history("m")]
    assert second.gets == []
    assert second.lists == 2  # events after the last copy, then versions


IMPORT = """
import sys
from trackbook.cli import main
sys.exit(main(["import-mlflow", sys.argv[2], "--artifacts", sys.argv[3], "--store", sys.argv[1],
               "--quiet"]))
"""


def test_import_mlflow_puts_the_registry_in_the_bucket(
        s3_url: str, machines: Machines, tmp_path: Path) -> None:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "mlflow"
    src = tmp_path / "mlflow"
    shutil.copytree(fixtures / "sqlite-base", src, ignore=shutil.ignore_patterns("*.gz"))
    with gzip.open(fixtures / "sqlite-base" / "mlflow.db.gz", "rb") as f, \
            open(src / "mlflow.db", "wb") as g:
        shutil.copyfileobj(f, g)
    finish(machines.start("importer", IMPORT, s3_url, str(src / "mlflow.db"),
                          str(src / "mlartifacts")), timeout=120)
    truth = json.loads((fixtures / "sqlite-base.json").read_text())["models"]
    reg = Registry(tmp_path / "elsewhere", files=ObjectFiles(S3Objects(s3_url)))
    assert reg.names() == sorted(m["name"] for m in truth)
    for m in truth:
        assert [v.version for v in reg.versions(m["name"])] == \
            [v["version"] for v in m["versions"]]
        assert reg.model(m["name"]).aliases == {a: int(v) for a, v in m["aliases"].items()}
