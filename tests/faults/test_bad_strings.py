"""No single bad string takes the store offline (issue 13, fault 1).

A lone surrogate (``os.fsdecode(b"data-\\xff.csv")``) is not text UTF-8 can encode: Arrow and
DuckDB refuse it. Logging one is refused at the call, as MLflow 3.17 does; a record already
in a log (an old version's, or a hand-edited line) is folded with U+FFFD in its place and a
warning naming the log file and the run, so search_runs, tb.sql and reindex keep working.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import trackbook as tb
from trackbook._errors import InvalidNameError, InvalidValueError, TrackbookWarning
from trackbook.tracking.uri import get_store

pytestmark = pytest.mark.usefixtures("store")

BAD = os.fsdecode(b"data-\xff.csv")  # 'data-\udcff.csv'


def cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRACKBOOK_STORE=str(store))
    return subprocess.run([sys.executable, "-m", "trackbook", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def assert_store_readable(store: Path, run_id: str, with_cli: bool = True) -> None:
    """search_runs, tb.sql, get_run, `trackbook runs` and `trackbook reindex` all work."""
    ids = list(tb.search_runs(search_all_experiments=True)["run_id"])
    assert run_id in ids
    assert run_id in set(tb.sql("SELECT run_id FROM params")["run_id"]) | set(ids)
    tb.Client().get_run(run_id)
    for args in (("runs",), ("reindex",)) if with_cli else ():
        done = cli(store, *args)
        assert done.returncode == 0, f"trackbook {' '.join(args)}: {done.stderr[-2000:]}"
    assert run_id in list(tb.search_runs(search_all_experiments=True)["run_id"])


REFUSERS: dict[str, tuple[type[Exception], Callable[[str], Any]]] = {
    "log_param value": (InvalidValueError, lambda s: tb.log_param("file", s)),
    "log_params value": (InvalidValueError, lambda s: tb.log_params({"ok": "1", "file": s})),
    "set_tag value": (InvalidValueError, lambda s: tb.set_tag("file", s)),
    "set_tags value": (InvalidValueError, lambda s: tb.set_tags({"ok": "1", "file": s})),
    "param key": (InvalidNameError, lambda s: tb.log_param(s, "v")),
    "tag key": (InvalidNameError, lambda s: tb.set_tag(s, "v")),
    "metric key": (InvalidNameError, lambda s: tb.log_metric(s, 1.0)),
    "delete_tag key": (InvalidNameError, lambda s: tb.delete_tag(s)),
    "run name": (InvalidNameError, lambda s: tb.Client().update_run(
        tb.active_run().info.run_id, name=s)),
    "experiment name": (InvalidNameError, lambda s: tb.create_experiment(s)),
    "set_experiment": (InvalidNameError, lambda s: tb.set_experiment(s)),
    "experiment tag value": (InvalidValueError, lambda s: tb.Client().set_experiment_tag(
        "0", "k", s)),
    "artifact_location": (InvalidValueError, lambda s: tb.create_experiment("e", s)),
}


@pytest.mark.parametrize("what", list(REFUSERS))
def test_lone_surrogate_is_refused_at_the_call(store: Path, what: str) -> None:
    """Every way text enters the log refuses a lone surrogate with a TrackbookError that
    says where it is and how to fix it; the store stays readable."""
    error, call = REFUSERS[what]
    with tb.start_run() as run:
        tb.log_param("keep", "me")
        with pytest.raises(error) as caught:
            call(BAD)
    message = str(caught.value)
    if error is InvalidValueError:
        assert "position 5" in message, message
        assert "surrogateescape" in message, message
    assert_store_readable(store, run.info.run_id, with_cli=what == "log_param value")
    assert tb.get_run(run.info.run_id).data.params == {"keep": "me"}


def test_start_run_tags_and_name_refuse_lone_surrogates() -> None:
    with pytest.raises(InvalidValueError, match="tag 'src' value"):
        tb.start_run(tags={"src": BAD})
    with pytest.raises(InvalidNameError, match="run name"):
        tb.start_run(run_name=BAD)
    assert tb.active_run() is None


def test_surrogates_in_argv_become_replacement_characters(store: Path, tmp_path: Path) -> None:
    """System tags come from the environment (a script named with undecodable bytes): they
    are never refused, but stored with U+FFFD."""
    script = tmp_path / os.fsdecode(b"train-\xff.py")
    script.write_text("import trackbook as tb\nwith tb.start_run() as r:\n"
                      "    print(r.info.run_id)\n")
    env = dict(os.environ, TRACKBOOK_STORE=str(store))
    done = subprocess.run([sys.executable, os.fsencode(script)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = done.stdout.split()[-1]
    assert "\ufffd" in tb.get_run(run_id).data.tags["mlflow.source.name"]
    assert_store_readable(store, run_id)


def poison(run_id: str) -> None:
    """Append records holding lone surrogates through the writer, as an older trackbook
    would have written them (json.dumps escapes them as \\udcff)."""
    session = get_store().session
    session.record("params", run=run_id, data={"file": BAD, "k\udcff": "v"})
    session.record("tags", run=run_id, data={"src": BAD, "mlflow.runName": "r\udcff"})
    session.record("experiment_tags", exp="0", data={"note": BAD})


def test_poisoned_log_records_are_folded_with_replacement_and_a_warning(store: Path) -> None:
    with tb.start_run() as run:
        tb.log_param("keep", "me")
        tb.log_metric("loss", 0.5)
    rid = run.info.run_id
    poison(rid)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = tb.get_run(rid).data
    assert data.params == {"keep": "me", "file": "data-\ufffd.csv", "k\ufffd": "v"}
    assert data.tags["src"] == "data-\ufffd.csv"
    assert tb.get_run(rid).info.run_name == "r\ufffd"
    texts = [str(w.message) for w in caught if issubclass(w.category, TrackbookWarning)]
    assert any(".jsonl" in t and rid in t for t in texts), texts
    assert_store_readable(store, rid)
    # reindex rebuilt from the same log: the same answer
    assert tb.get_run(rid).data.params["file"] == "data-\ufffd.csv"
    assert tb.get_experiment("0").tags["note"] == "data-\ufffd.csv"


def test_hand_written_log_line_with_escaped_surrogate(store: Path) -> None:
    """A log line typed by hand with JSON ``"\\udcff"`` (valid JSON) cannot take the store
    offline."""
    with tb.start_run() as run:
        tb.log_param("keep", "me")
    rid = run.info.run_id
    log_file = max((store / "log").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    line = json.dumps({"op": "params", "run": rid, "t": 1, "data": {"hand": BAD}})
    assert "\\udcff" in line
    with open(log_file, "a", encoding="ascii") as f:
        f.write(line + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrackbookWarning)
        assert_store_readable(store, rid)
        params = tb.get_run(rid).data.params
    assert params == {"keep": "me", "hand": "data-\ufffd.csv"}


def test_hand_written_log_line_with_raw_surrogate_bytes(store: Path) -> None:
    """Raw bytes ED B3 BF (what "surrogatepass" encodes U+DCFF as) in a log line decode to a
    lone surrogate too (json.loads reads bytes with "surrogatepass"): folded with U+FFFD and
    a warning naming the log, like an escaped one."""
    with tb.start_run() as run:
        tb.log_param("keep", "me")
    rid = run.info.run_id
    log_file = max((store / "log").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    line = json.dumps({"op": "params", "run": rid, "t": 1, "data": {"hand": BAD}},
                      ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert b"\xed\xb3\xbf" in line
    with open(log_file, "ab") as f:
        f.write(line + b"\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        params = tb.get_run(rid).data.params
        assert_store_readable(store, rid)
    assert params == {"keep": "me", "hand": "data-\ufffd.csv"}
    texts = [str(w.message) for w in caught if issubclass(w.category, TrackbookWarning)]
    assert any(".jsonl" in t and rid in t for t in texts), texts


def test_experiment_file_with_a_surrogate_name_is_indexed(store: Path) -> None:
    tb.set_experiment("fine")
    exp_dir = store / "experiments"
    path = next(exp_dir.glob("*.json"))
    record = json.loads(path.read_text())
    record.update(experiment_id="999", name="bad-\udcff")
    (exp_dir / "999.json").write_text(json.dumps(record))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrackbookWarning)
        names = {e.name for e in tb.search_experiments()}
        assert "bad-\ufffd" in names
        assert cli(store, "reindex").returncode == 0


def test_registry_refuses_lone_surrogates(store: Path) -> None:
    from trackbook.registry.errors import InvalidRegistryNameError

    client = tb.Client()
    client.create_registered_model("m")
    calls = {
        "model name": (InvalidRegistryNameError, lambda: client.create_registered_model(BAD)),
        "description": (InvalidValueError, lambda: client.update_registered_model("m", BAD)),
        "tag value": (InvalidValueError, lambda: client.set_registered_model_tag("m", "k", BAD)),
        "tag key": (InvalidRegistryNameError,
                    lambda: client.set_registered_model_tag("m", BAD, "v")),
    }
    long = "x" * 100_001  # MLflow's registry tag value limit is 100,000
    calls["long description"] = (InvalidValueError,
                                 lambda: client.update_registered_model("m", long))
    calls["long tag value"] = (InvalidValueError,
                               lambda: client.set_registered_model_tag("m", "k", long))
    for what, (error, call) in calls.items():
        with pytest.raises(error):
            call()
        assert client.get_registered_model("m").name == "m", what
    model = client.get_registered_model("m")
    assert not model.description
    assert not model.tags
