"""Bad input is refused with a teaching error, is never spliced into SQL, cannot write
outside the run's folder, and never costs data that was already logged."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trackbook as tb
from trackbook._errors import (
    ArtifactPathError,
    FilterSyntaxError,
    InvalidNameError,
    InvalidValueError,
    RunNotFoundError,
    RunStateError,
    TrackbookError,
)
from trackbook.store.catalog import Catalog
from trackbook.store.layout import Layout

pytestmark = pytest.mark.usefixtures("tb_store")

INJECTION = "x'; DROP TABLE runs; --"


def snapshot(run_id: str) -> dict[str, Any]:
    """Everything logged to a run (minus the clock), to compare before/after a bad call."""
    client = tb.Client()
    run = client.get_run(run_id)
    df = client.get_metric_history_df(run_id)
    points = sorted(zip(df["key"], df["step"], df["value"], df["timestamp"], strict=True))
    return {"params": dict(run.data.params), "tags": dict(run.data.tags),
            "metrics": dict(run.data.metrics), "points": points,
            "status": run.info.status}


@pytest.fixture
def logged_run() -> tb.ActiveRun:
    """An active run that already holds a param, a tag and flushed + buffered points."""
    run = tb.start_run()
    tb.log_param("keep", "me")
    tb.set_tag("tag", "value")
    for i in range(3):
        tb.log_metric("loss", 1.0 / (i + 1), step=i)
    tb.flush()
    tb.log_metric("loss", 0.2, step=3)  # still buffered
    return run


BAD_NAMES = [
    "", "x" * 251, "a;b", "a'b", 'a"b', "a`b", "a\nb", "loss\n", "a\tb", "a\x00b", "a*b",
    "..", "../x", "a/../b", "a/..", "/abs",
]
NON_STRING_NAMES = [None, 3, 1.5, b"bytes", ["a"], ("t",)]
GOOD_NAMES = ["x" * 250, "a b/c:d-e.f_g", "val/auc", "épsilon", "a..b", "."]
LOGGERS: dict[str, Callable[[Any], None]] = {
    "log_metric": lambda name: tb.log_metric(name, 1.0),
    "log_metrics": lambda name: tb.log_metrics({"fine": 1.0, name: 1.0}),
    "log_param": lambda name: tb.log_param(name, "v"),
    "log_params": lambda name: tb.log_params({"fine": "v", name: "v"}),
    "set_tag": lambda name: tb.set_tag(name, "v"),
    "set_tags": lambda name: tb.set_tags({"fine": "v", name: "v"}),
    "Client.log_metric": lambda name: tb.Client().log_metric(
        tb.active_run().info.run_id, name, 1.0),
}


def outcome(call: Callable[[], object], expected: type[BaseException]) -> str | None:
    """None when ``call`` raises ``expected``; otherwise what happened instead."""
    try:
        call()
    except expected:
        return None
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"
    return "was accepted"


def refused_names(names: list[Any]) -> list[str]:
    wrong = []
    for name in names:
        for what, log in LOGGERS.items():
            if isinstance(name, list) and what.endswith("s"):
                continue  # an unhashable name cannot be a dict key in the first place
            got = outcome(lambda log=log, name=name: log(name), InvalidNameError)
            if got:
                wrong.append(f"{what}({name!r}) {got}")
    return wrong


def test_invalid_names_are_refused(logged_run: tb.ActiveRun) -> None:
    before = snapshot(logged_run.info.run_id)
    wrong = refused_names(BAD_NAMES)
    assert not wrong, "\n".join(wrong)
    assert snapshot(logged_run.info.run_id) == before


def test_non_string_names_are_refused_with_invalid_name_error(
        logged_run: tb.ActiveRun) -> None:
    before = snapshot(logged_run.info.run_id)
    wrong = refused_names(NON_STRING_NAMES)
    assert not wrong, "\n".join(wrong)
    assert snapshot(logged_run.info.run_id) == before


def test_valid_edge_names_are_accepted() -> None:
    with tb.start_run() as run:
        for name in GOOD_NAMES:
            tb.log_metric(name, 1.0)
            tb.log_param(name, "p")
            tb.set_tag(name, "t")
    got = tb.get_run(run.info.run_id).data
    for name in GOOD_NAMES:
        assert got.metrics[name] == 1.0
        assert got.params[name] == "p"
        assert got.tags[name] == "t"


def test_invalid_experiment_names() -> None:
    tb.set_experiment("exists")
    before = [e.name for e in tb.search_experiments()]
    wrong = []
    for name in ["", "   ", None, 7, "a\nb", "tab\there", "x" * 501]:
        calls = {"create_experiment": lambda name=name: tb.create_experiment(name),
                 "Client.create_experiment": lambda name=name: tb.Client().create_experiment(
                     name)}
        if name is not None:  # set_experiment(None) means "no name given"
            calls["set_experiment"] = lambda name=name: tb.set_experiment(name)
        for what, call in calls.items():
            got = outcome(call, InvalidNameError)
            if got:
                wrong.append(f"{what}({name!r}) {got}")
    assert not wrong, "\n".join(wrong)
    assert [e.name for e in tb.search_experiments()] == before


def test_bad_steps_and_values_are_refused(logged_run: tb.ActiveRun) -> None:
    rid = logged_run.info.run_id
    before = snapshot(rid)
    for step in ("1.5", "ten", 1.5, [1]):
        with pytest.raises(InvalidValueError, match="step"):
            tb.log_metric("loss", 1.0, step=step)
    for bad in ("0.5", None, True, np.str_("1"), [0.5], {"v": 1}):
        with pytest.raises(InvalidValueError, match="'loss'"):
            tb.log_metric("loss", bad, step=9)
        with pytest.raises(InvalidValueError, match="'loss'"):
            tb.Client().log_metric(rid, "loss", bad, step=9)
        with pytest.raises(InvalidValueError, match="'loss'"):
            tb.log_metrics({"ok": 1.0, "loss": bad}, step=9)
    assert snapshot(rid) == before


def test_bad_timestamps_are_refused_and_lose_nothing(logged_run: tb.ActiveRun) -> None:
    """A timestamp that is not an integer must be refused at the call, not poison the
    buffer: the run's other points (before and after) must all reach the disk."""
    rid = logged_run.info.run_id
    before = snapshot(rid)["points"]
    wrong = []
    for bad in ("soon", 1.5, [1]):
        for what, call in {
            "log_metric": lambda bad=bad: tb.log_metric("loss", 2.0, step=10, timestamp=bad),
            "Client.log_metric": lambda bad=bad: tb.Client().log_metric(
                rid, "loss", 2.0, step=10, timestamp=bad),
        }.items():
            got = outcome(call, InvalidValueError)
            if got:
                wrong.append(f"{what}(timestamp={bad!r}) {got}")
    tb.log_metric("loss", 0.1, step=11, timestamp=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tb.end_run()
    after = snapshot(rid)["points"]
    problems = wrong + [f"warned: {w.message}" for w in caught]
    assert not problems, "\n".join(problems)
    assert [p for p in after if p[1] != 10] == sorted([*before, ("loss", 11, 0.1, 5)])


# -- filters -------------------------------------------------------------------------------

FILTER_ERRORS = [
    ("metrics.acc >", 13),
    ("metrics.acc > 0.5 AND", 21),
    ("params.model = 'rf", 15),
    ("metrics.acc >> 1", 13),
    ("foo = 1", 0),
    ("metrics.acc LIKE 'a%'", 12),
    ("(metrics.acc > 1", 16),
    ("metrics.acc > 1)", 15),
    ("metrics.acc > 0; DROP TABLE runs", 15),
    ("params.x = 'a' OR 1=1 --", 18),
]
ORDER_BY_ERRORS = [
    (["metrics.acc SIDEWAYS"], 12),
    (["metrics.acc; DROP TABLE runs"], 13),
    (["nope"], 0),
]


def test_filter_and_order_by_syntax_errors_say_where() -> None:
    tb.set_experiment("f")
    with tb.start_run():
        tb.log_metric("acc", 1.0)
    for text, position in FILTER_ERRORS:
        with pytest.raises(FilterSyntaxError) as err:
            tb.search_runs(filter_string=text)
        assert (err.value.position, err.value.text) == (position, text), text
        # the message shows the filter with a caret under the offending character
        shown, caret = str(err.value).splitlines()[-2:]
        assert shown.strip() == text
        assert caret.index("^") - shown.index(text) == position, text
    for order_by, position in ORDER_BY_ERRORS:
        with pytest.raises(FilterSyntaxError) as err:
            tb.search_runs(order_by=order_by)
        assert err.value.position == position, order_by
    assert len(tb.search_runs()) == 1


# -- SQL injection -------------------------------------------------------------------------

def test_injection_attempts_are_data_not_sql() -> None:
    exp = tb.set_experiment(INJECTION)
    assert exp.name == INJECTION
    with tb.start_run(run_name=INJECTION) as target:
        tb.log_param("p", INJECTION)
        tb.set_tag("t", INJECTION)
        tb.log_metric("m", 1.0)
    with tb.start_run() as other:
        tb.log_param("p", "plain")
        tb.set_tag("t", "plain")
    rid = target.info.run_id

    got = tb.get_run(rid)
    assert got.data.params["p"] == INJECTION
    assert got.data.tags["t"] == INJECTION
    assert got.info.run_name == INJECTION
    assert tb.get_experiment_by_name(INJECTION).experiment_id == exp.experiment_id
    assert tb.get_experiment(exp.experiment_id).name == INJECTION

    quoted = INJECTION.replace("'", "''")
    for f in (f"params.p = '{quoted}'", f"tags.t = '{quoted}'",
              f"attributes.run_name = '{quoted}'", "params.p LIKE '%DROP TABLE%'"):
        assert list(tb.search_runs(filter_string=f)["run_id"]) == [rid], f
    for f in ("params.`p' OR '1'='1` = 'plain'", "params.p = 'plain'' OR ''1''=''1'"):
        assert len(tb.search_runs(filter_string=f)) == 0, f
    with pytest.raises(FilterSyntaxError):
        tb.search_runs(filter_string=f"params.p = '{INJECTION}'")
    with pytest.raises(FilterSyntaxError):
        tb.search_runs(order_by=["metrics.m; DROP TABLE runs; --"])
    assert len(tb.search_runs(experiment_ids=["0' OR '1'='1"])) == 0
    assert tb.search_experiments(filter_string=f"name = '{INJECTION}'")[0].name == INJECTION
    with pytest.raises(RunNotFoundError):
        tb.get_run("x' OR '1'='1")
    with pytest.raises(InvalidNameError):
        tb.Client().log_param(rid, INJECTION, "v")  # quotes are not allowed in keys
    by_sql = tb.sql("SELECT run_id FROM params WHERE key = 'p' AND value = ?", [INJECTION])
    assert list(by_sql["run_id"]) == [rid]

    # the store is intact, and the same after a rebuild from the files
    assert set(tb.search_runs()["run_id"]) == {rid, other.info.run_id}
    assert tb.sql("SELECT count(*) AS n FROM runs")["n"][0] == 2
    Catalog(Layout.at(tb.get_tracking_uri().removeprefix("file://"))).rebuild()
    assert tb.get_run(rid).data.params["p"] == INJECTION
    assert tb.get_experiment_by_name(INJECTION).experiment_id == exp.experiment_id


def test_awkward_values_round_trip_verbatim() -> None:
    values = {"newline": "a\nb", "nul": "a\x00b", "unicode": "naïve ✓ 🚀", "empty": "",
              "quotes": "it's \"q\" \\ `x`", "json": '{"a": [1, 2]}', "sql": INJECTION}
    with tb.start_run() as run:
        tb.log_params(values)
        tb.set_tags({f"t.{k}": v for k, v in values.items()})
    got = tb.get_run(run.info.run_id).data
    assert {k: got.params[k] for k in values} == values
    assert {k: got.tags[f"t.{k}"] for k in values} == values
    row = tb.search_runs().iloc[0]
    assert {k: row[f"params.{k}"] for k in values} == values


def test_bad_run_names_are_refused() -> None:
    for name in ("a\nb", "tab\tname", "cr\rname"):  # "" means "generate one", as in MLflow
        with pytest.raises(InvalidNameError):
            tb.start_run(run_name=name)
        assert tb.active_run() is None
    assert len(tb.search_runs()) == 0


# -- artifact paths ------------------------------------------------------------------------

def all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_artifact_paths_cannot_escape(tmp_path: Path, tb_store: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("data")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "f.txt").write_text("f")
    outside = tmp_path / "outside"
    outside.mkdir()
    absolute = str(outside / "evil.txt")
    with tb.start_run() as run:
        tb.log_text("ok", "fine/ok.txt")
    rid = run.info.run_id
    client = tb.Client()
    arts = Path(client.download_artifacts(rid, ""))
    (arts / "link").symlink_to(outside, target_is_directory=True)
    before = all_files(tmp_path)
    attempts: list[Callable[[], object]] = [
        lambda: tb.log_text("x", "../evil.txt", run_id=rid),
        lambda: tb.log_text("x", "a/../../evil.txt", run_id=rid),
        lambda: tb.log_text("x", "../../../../outside/evil.txt", run_id=rid),
        lambda: tb.log_text("x", absolute, run_id=rid),
        lambda: tb.log_text("x", "C:/evil.txt", run_id=rid),
        lambda: tb.log_text("x", "..\\evil.txt", run_id=rid),
        lambda: tb.log_text("x", "link/evil.txt", run_id=rid),
        lambda: tb.log_dict({"a": 1}, "../evil.json", run_id=rid),
        lambda: tb.log_image(np.zeros((2, 2), np.uint8), "../evil.png", run_id=rid),
        lambda: tb.log_artifact(str(src), artifact_path="..", run_id=rid),
        lambda: tb.log_artifact(str(src), artifact_path="../../outside", run_id=rid),
        lambda: tb.log_artifact(str(src), artifact_path=str(outside), run_id=rid),
        lambda: tb.log_artifact(str(src), artifact_path="link", run_id=rid),
        lambda: tb.log_artifacts(str(folder), artifact_path="../..", run_id=rid),
        lambda: tb.log_artifacts(str(folder), artifact_path=str(outside), run_id=rid),
        lambda: client.list_artifacts(rid, ".."),
        lambda: client.list_artifacts(rid, "link"),
        lambda: client.download_artifacts(rid, "../.."),
        lambda: client.download_artifacts(rid, str(tb_store)),
    ]
    for i, attempt in enumerate(attempts):
        with pytest.raises(ArtifactPathError):
            attempt()
        assert all_files(tmp_path) == before, f"attempt {i} wrote a file"
    assert not (outside / "evil.txt").exists()
    assert [f.path for f in client.list_artifacts(rid, "fine")] == ["fine/ok.txt"]


# -- finished runs ---------------------------------------------------------------------------

def test_finished_run_refuses_metrics_and_params() -> None:
    with tb.start_run() as run:
        tb.log_param("a", "1")
        tb.log_metric("m", 1.0)
    rid = run.info.run_id
    client = tb.Client()
    before = snapshot(rid)
    attempts: list[Callable[[], object]] = [
        lambda: client.log_metric(rid, "m", 2.0),
        lambda: client.log_param(rid, "b", "2"),
        lambda: client.log_batch(rid, metrics=[tb.Metric("m", 2.0, 1, 1)]),
        lambda: client.log_batch(rid, params=[("c", "3")]),
        lambda: tb.log_metric("m", 2.0, run_id=rid),
        lambda: tb.log_metrics({"m": 2.0}, run_id=rid),
        lambda: tb.log_params({"d": 4}, run_id=rid),
    ]
    for attempt in attempts:
        with pytest.raises(RunStateError, match=rid):
            attempt()
    assert snapshot(rid) == before
    assert tb.active_run() is None


def test_finished_run_refuses_writes_from_another_process(tb_store: Path) -> None:
    with tb.start_run() as run:
        tb.log_metric("m", 1.0)
    code = textwrap.dedent(f"""
        import trackbook as tb
        from trackbook._errors import RunStateError
        client = tb.Client()
        for call in (lambda: client.log_metric({run.info.run_id!r}, "m", 5.0),
                     lambda: client.log_param({run.info.run_id!r}, "p", 1)):
            try:
                call()
            except RunStateError:
                print("refused")
    """)
    env = dict(os.environ, TRACKBOOK_STORE=str(tb_store))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=False, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["refused", "refused"]
    assert snapshot(run.info.run_id)["points"] == [("m", 0, 1.0, snapshot(run.info.run_id)[
        "points"][0][3])]


def test_every_error_is_a_trackbook_error() -> None:
    for exc in (ArtifactPathError, FilterSyntaxError, InvalidNameError, InvalidValueError,
                RunNotFoundError, RunStateError):
        assert issubclass(exc, TrackbookError)
