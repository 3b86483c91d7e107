"""Message-level tests of the run table: requests in, Arrow IPC replies decoded in Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

pytest.importorskip("anywidget")

N_RUNS = 12


@pytest.fixture
def runs(store: Path) -> list[str]:
    """``N_RUNS`` finished runs in experiment "sweep" with params, metrics and tags."""
    import trackbook as tb

    tb.set_experiment("sweep")
    ids = []
    for i in range(N_RUNS):
        with tb.start_run(run_name=f"run-{i:02d}") as run:
            tb.log_params({"lr": 10 ** -(i % 4), "model": "rf" if i % 3 else "lin",
                           "seed": 7})
            for step in range(3):
                tb.log_metric("loss", 1.0 / (i + step + 1), step=step)
            tb.log_metric("acc", (i * 37 % 11) / 10)
            tb.set_tag("team", "a" if i < 6 else "b")
            ids.append(run.info.run_id)
    with tb.start_run(run_name="other-exp", experiment_id=tb.create_experiment("other")):
        tb.log_metric("acc", 0.0)
    return ids


def table_of(reply: tuple[dict[str, Any], list[bytes]]) -> tuple[dict[str, Any], pa.Table]:
    msg, buffers = reply
    assert msg["ok"], msg
    assert len(buffers) == 1
    return msg, pa.ipc.open_stream(buffers[0]).read_all()


def page(widget: Any, **kw: Any) -> tuple[dict[str, Any], pa.Table]:
    request = {"type": "page", "id": "req-1", "offset": 0, "limit": 100, **kw}
    return table_of(widget.handle_request(request))


def duckdb_order(order_sql: str, experiment: str = "sweep") -> list[str]:
    import trackbook as tb

    frame = tb.sql(
        "SELECT r.run_id FROM runs r JOIN experiments e USING (experiment_id) "
        f"WHERE e.name = ? ORDER BY {order_sql}", [experiment])
    return frame["run_id"].tolist()


def test_page_reply_is_arrow_with_requested_columns(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep")
    msg, rows = page(table, limit=5, columns=["attributes.run_name", "params.lr",
                                              "metrics.acc", "tags.team"])
    assert msg["id"] == "req-1"
    assert msg["total"] == N_RUNS
    assert rows.column_names == ["__run_id", "attributes.run_name", "params.lr",
                                 "metrics.acc", "tags.team"]
    assert rows.num_rows == 5
    assert rows.schema.field("metrics.acc").type == pa.float64()
    assert rows.schema.field("params.lr").type == pa.string()
    # default order: newest first
    assert rows["__run_id"].to_pylist() == list(reversed(runs))[:5]


def test_default_columns_when_none_requested(runs: list[str]) -> None:
    import trackbook as tb

    _, rows = page(tb.runs_table("sweep"))
    assert rows.column_names[:3] == ["__run_id", "attributes.run_name", "attributes.status"]
    assert {"params.lr", "params.model", "metrics.acc", "metrics.loss"} <= set(rows.column_names)


@pytest.mark.parametrize(("sort", "order_sql"), [
    ([{"column": "metrics.acc", "desc": True}],
     "(SELECT value FROM latest_metrics m WHERE m.run_id = r.run_id AND key = 'acc') "
     "DESC NULLS LAST, r.start_time DESC, r.run_id"),
    ([{"column": "params.model", "desc": False}, {"column": "metrics.loss", "desc": True}],
     "(SELECT value FROM params p WHERE p.run_id = r.run_id AND key = 'model') "
     "ASC NULLS LAST, (SELECT value FROM latest_metrics m WHERE m.run_id = r.run_id AND "
     "key = 'loss') DESC NULLS LAST, r.start_time DESC, r.run_id"),
    ([{"column": "attributes.run_name", "desc": True}],
     "r.run_name DESC NULLS LAST, r.start_time DESC, r.run_id"),
])
def test_sort_matches_duckdb_order_by(runs: list[str], sort: list[dict[str, Any]],
                                      order_sql: str) -> None:
    import trackbook as tb

    _, rows = page(tb.runs_table("sweep"), sort=sort)
    assert rows["__run_id"].to_pylist() == duckdb_order(order_sql)


def test_paging_covers_every_run_once(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep")
    sort = [{"column": "metrics.acc", "desc": False}]
    seen = []
    for offset in range(0, N_RUNS, 5):
        msg, rows = page(table, offset=offset, limit=5, sort=sort)
        assert msg["offset"] == offset
        seen += rows["__run_id"].to_pylist()
    assert seen == page(table, sort=sort)[1]["__run_id"].to_pylist()
    assert sorted(seen) == sorted(runs)


def test_filter_narrows_and_combines_with_fixed_filter(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep")
    msg, rows = page(table, filter="params.model = 'lin'")
    assert msg["total"] == rows.num_rows == 4  # i = 0, 3, 6, 9
    fixed = tb.runs_table("sweep", filter_string="tags.team = 'a'")
    msg, rows = page(fixed, filter="params.model = 'lin'")
    assert msg["total"] == 2  # i = 0, 3
    assert set(rows["__run_id"].to_pylist()) == {runs[0], runs[3]}


def test_bad_filter_is_an_error_reply_not_an_exception(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep")
    msg, buffers = table.handle_request({"type": "page", "id": "x", "offset": 0, "limit": 5,
                                         "filter": "metrics.acc >"})
    assert msg == {"type": "reply", "id": "x", "ok": False, "error": msg["error"]}
    assert buffers == []
    assert "expected a value" in msg["error"]
    assert table.error == msg["error"]
    page(table, filter="metrics.acc > 0.5")  # a good filter clears the error
    assert table.error == ""


@pytest.mark.parametrize("request_", [
    {"type": "page", "offset": 0, "limit": 5, "columns": ["bogus.x"]},
    {"type": "page", "offset": 0, "limit": 5, "sort": [{"column": "attributes.nope"}]},
    {"type": "nope"},
])
def test_invalid_requests_answer_with_errors(runs: list[str], request_: dict[str, Any]) -> None:
    import trackbook as tb

    msg, buffers = tb.runs_table("sweep").handle_request({"id": "q", **request_})
    assert msg["ok"] is False
    assert msg["id"] == "q"
    assert msg["error"]
    assert buffers == []


def test_columns_request_lists_keys_and_what_differs(runs: list[str]) -> None:
    import trackbook as tb

    msg, _ = tb.runs_table("sweep").handle_request({"type": "columns", "id": "c"})
    assert msg["ok"]
    assert msg["total"] == N_RUNS
    info = {c["name"]: c for c in msg["columns"]}
    assert info["params.lr"]["kind"] == "param"
    assert info["params.lr"]["differs"] is True
    assert info["params.seed"]["differs"] is False
    assert info["metrics.acc"]["kind"] == "metric"
    assert info["tags.team"]["differs"] is True
    msg, _ = tb.runs_table("sweep").handle_request(
        {"type": "columns", "id": "c", "filter": "tags.team = 'a'"})
    assert {c["name"]: c["differs"] for c in msg["columns"]}["tags.team"] is False


def test_scope_by_experiment_names_ids_or_all(runs: list[str]) -> None:
    import trackbook as tb

    other = tb.get_experiment_by_name("other").experiment_id
    assert page(tb.runs_table(search_all_experiments=True))[0]["total"] == N_RUNS + 1
    assert page(tb.runs_table(["sweep", "other"]))[0]["total"] == N_RUNS + 1
    assert page(tb.runs_table(experiment_ids=[other]))[0]["total"] == 1
    with pytest.raises(tb.TrackbookError, match="no experiment named"):
        tb.runs_table("missing")


def test_no_arguments_means_the_current_experiment(runs: list[str]) -> None:
    import trackbook as tb

    # the fixture's set_experiment("sweep") made it current
    assert tb.current_experiment_id() == tb.get_experiment_by_name("sweep").experiment_id
    assert page(tb.runs_table())[0]["total"] == N_RUNS
    tb.set_experiment("other")
    msg, rows = page(tb.runs_table(columns=["attributes.run_name"]))
    assert msg["total"] == 1
    assert rows["attributes.run_name"].to_pylist() == ["other-exp"]


def test_rows_match_search_runs_for_the_same_filter_and_order(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep", filter_string="tags.team = 'a' OR metrics.acc > 0.5")
    _, rows = page(table, filter="params.model = 'rf'",
                   sort=[{"column": "metrics.acc", "desc": True}])
    frame = tb.search_runs(experiment_names=["sweep"],
                           filter_string="(tags.team = 'a' OR metrics.acc > 0.5) "
                                         "AND (params.model = 'rf')",
                           order_by=["metrics.acc DESC"])
    assert rows["__run_id"].to_pylist() == frame["run_id"].tolist()
    assert 0 < rows.num_rows < N_RUNS


def test_version_changes_when_a_run_is_logged(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep")
    v1 = table.handle_request({"type": "version", "id": "v"})[0]["version"]
    assert table.handle_request({"type": "version", "id": "v"})[0]["version"] == v1
    with tb.start_run(run_name="late", experiment_id=tb.get_experiment_by_name("sweep")
                      .experiment_id):
        tb.log_metric("acc", 1.0)
    assert table.handle_request({"type": "version", "id": "v"})[0]["version"] != v1
    assert page(table)[0]["total"] == N_RUNS + 1


def test_traits_validate_and_unknown_arguments_are_refused(runs: list[str]) -> None:
    import traitlets

    import trackbook as tb

    table = tb.runs_table("sweep", sort=["metrics.acc DESC"], page_size=10)
    assert table.sort == [{"column": "metrics.acc", "desc": True}]
    with pytest.raises(traitlets.TraitError):
        table.page_size = 0
    with pytest.raises(TypeError, match="unknown argument"):
        tb.runs_table("sweep", colums=["params.lr"])
    with pytest.raises(tb.TrackbookError, match="unknown column"):
        table.columns = ["param.lr"]


def test_selection_is_observable(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep")
    seen = []
    table.observe(lambda change: seen.append(change["new"]), names="selected")
    table.selected = runs[:2]
    assert seen == [runs[:2]]


def test_text_and_html_fallbacks_show_the_first_rows(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep", columns=["attributes.run_name", "metrics.acc"])
    text = repr(table)
    assert "run-11" in text
    assert text.rstrip().endswith(f"{N_RUNS} runs")
    html = table._repr_html_()
    assert html.count("<tr>") == N_RUNS + 1
    assert "<th>run_name</th>" in html
    assert "run-00" in html


def test_first_page_computed_for_the_fallback_serves_the_views_first_request(
        runs: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep", page_size=8)
    assert "run-11" in repr(table)  # what displaying the table computes
    store = table._store
    real_connect = store.connect
    opened = []

    def counting_connect(*args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(store, "connect", counting_connect)
    msg, rows = page(table, limit=8)
    assert opened == []  # served from the display's query
    assert msg["total"] == N_RUNS
    assert rows.num_rows == 8
    page(table, limit=8, sort=[{"column": "metrics.acc", "desc": True}])
    assert len(opened) == 1  # another order is another query
    with tb.start_run(run_name="late", experiment_id=tb.get_experiment_by_name("sweep")
                      .experiment_id):
        tb.log_metric("acc", 1.0)
    opened.clear()
    assert page(table, limit=8)[0]["total"] == N_RUNS + 1  # the store changed: queried
    assert len(opened) == 1


# -- the detail pane -----------------------------------------------------------------------

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a2dd5a8f0000000049454e44ae426082")
SVG_TEXT = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>'


def test_run_request_answers_params_metrics_tags_and_artifacts(runs: list[str],
                                                              tmp_path: Path) -> None:
    import trackbook as tb

    run_id = runs[4]
    client = tb.Client()
    image = tmp_path / "curve.png"
    image.write_bytes(PNG_1X1)
    client.log_artifact(run_id, str(image), "plots")
    client.log_text(run_id, SVG_TEXT, "plots/diagram.svg")
    client.log_text(run_id, "notes", "notes.txt")
    table = tb.runs_table("sweep")
    msg, buffers = table.handle_request({"type": "run", "id": "r", "run_id": run_id})
    assert msg["ok"], msg
    run = msg["run"]
    assert run["run_id"] == run_id
    assert run["run_name"] == "run-04"
    assert run["status"] == "FINISHED"
    assert run["params"] == [("lr", "1"), ("model", "rf"), ("seed", "7")]
    assert dict(run["metrics"]) == {"acc": pytest.approx(0.5), "loss": pytest.approx(1 / 7)}
    assert ("team", "a") in run["tags"]
    artifacts = {a["path"]: a for a in run["artifacts"]}
    assert set(artifacts) == {"notes.txt", "plots/curve.png", "plots/diagram.svg"}
    assert "preview" not in artifacts["notes.txt"]
    assert artifacts["notes.txt"]["size"] == 5
    png, svg = artifacts["plots/curve.png"], artifacts["plots/diagram.svg"]
    assert png["mime"] == "image/png"
    assert svg["mime"] == "image/svg+xml"
    # image bytes travel in the reply's buffers, never as a path or URL
    assert bytes(buffers[png["preview"]]) == PNG_1X1
    assert bytes(buffers[svg["preview"]]).decode() == SVG_TEXT
    assert len(buffers) == 2
    assert str(tb.Client().store.root) not in repr(msg)
    assert run["artifacts_truncated"] is False


def test_run_request_limits_previews_and_listing(runs: list[str], monkeypatch: Any) -> None:
    import trackbook as tb
    from trackbook.widgets import _detail

    monkeypatch.setattr(_detail, "MAX_ARTIFACTS", 5)
    monkeypatch.setattr(_detail, "MAX_PREVIEWS", 2)
    monkeypatch.setattr(_detail, "MAX_PREVIEW_BYTES", 100)
    client = tb.Client()
    client.log_text(runs[0], "x" * 200, "big.svg")  # too large to preview
    for i in range(5):
        client.log_text(runs[0], SVG_TEXT, f"img/{i}.svg")
    msg, buffers = tb.runs_table("sweep").handle_request(
        {"type": "run", "id": "r", "run_id": runs[0]})
    assert msg["ok"], msg
    arts = msg["run"]["artifacts"]
    assert len(arts) == 5
    assert msg["run"]["artifacts_truncated"] is True
    assert "preview" not in arts[0]  # big.svg comes first (top level), over the size cap
    assert len(buffers) == 2
    assert [a.get("preview") for a in arts[1:]] == [0, 1, None, None]


@pytest.mark.parametrize("run_id", ["", "0" * 32, None])
def test_run_request_for_a_missing_run_is_an_error_reply(runs: list[str], run_id: Any) -> None:
    import trackbook as tb

    msg, buffers = tb.runs_table("sweep").handle_request(
        {"type": "run", "id": "r", "run_id": run_id})
    assert msg["ok"] is False
    assert "run" in msg["error"]
    assert buffers == []


def test_detail_trait_is_observable(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("sweep", detail=runs[1])
    assert table.detail == runs[1]
    seen = []
    table.observe(lambda change: seen.append(change["new"]), names="detail")
    table.detail = ""
    assert seen == [""]


MLMODEL = "flavors:\n  python_function: {loader_module: x}\n  sklearn: {}\n"


def test_run_request_lists_logged_models_and_their_registered_versions(runs: list[str]) -> None:
    import trackbook as tb

    client = tb.Client()
    run_id = runs[2]
    client.log_text(run_id, MLMODEL, "model/MLmodel")
    client.log_text(run_id, "x", "model/model.pkl")
    client.log_text(run_id, "flavors: {}\n", "extra/deep/clf/MLmodel")
    client.log_text(run_id, "not a model", "notes/readme.txt")
    client.log_text(runs[3], MLMODEL, "model/MLmodel")
    tb.register_model(f"runs:/{run_id}/model", "churn")
    tb.register_model(f"runs:/{runs[3]}/model", "churn")  # another run's: not listed
    tb.register_model(f"runs:/{run_id}/model", "other")
    msg, _ = tb.runs_table("sweep").handle_request({"type": "run", "id": "r", "run_id": run_id})
    assert msg["ok"], msg
    assert msg["run"]["models"] == [
        {"path": "extra/deep/clf", "flavors": [], "versions": []},
        {"path": "model", "flavors": ["python_function", "sklearn"],
         "versions": [{"name": "churn", "version": 1}, {"name": "other", "version": 1}]},
    ]
    assert msg["run"]["registered_names"] == ["churn", "other"]
    bare, _ = tb.runs_table("sweep").handle_request({"type": "run", "id": "r",
                                                     "run_id": runs[5]})
    assert bare["run"]["models"] == []


def test_register_request_registers_the_runs_model(runs: list[str]) -> None:
    import trackbook as tb

    client = tb.Client()
    run_id = runs[2]
    client.log_text(run_id, MLMODEL, "model/MLmodel")
    table = tb.runs_table("sweep")
    msg, buffers = table.handle_request({"type": "register", "id": "r", "run_id": run_id,
                                         "path": "model", "name": "churn-model"})
    assert msg["ok"], msg
    assert buffers == []
    assert msg["registered"] == {"name": "churn-model", "version": 1, "run_id": run_id,
                                 "source": f"runs:/{run_id}/model"}
    mv = client.get_model_version("churn-model", 1)
    assert (mv.run_id, mv.source) == (run_id, f"runs:/{run_id}/model")
    again, _ = table.handle_request({"type": "register", "id": "r2", "run_id": run_id,
                                     "path": "/model/", "name": "churn-model"})
    assert again["registered"]["version"] == 2
    detail, _ = table.handle_request({"type": "run", "id": "r3", "run_id": run_id})
    assert detail["run"]["models"][0]["versions"] == [
        {"name": "churn-model", "version": 1}, {"name": "churn-model", "version": 2}]


@pytest.mark.parametrize(("change", "error"), [
    ({"name": "a/b"}, "contains '/'"),
    ({"name": ""}, "enter a registered model name"),
    ({"name": None}, "enter a registered model name"),
    ({"path": "notes"}, "has no logged model at 'notes'"),
    ({"path": "nope"}, "has no logged model at 'nope'"),
    ({"path": ""}, "model path must be a non-empty artifact path"),
    ({"path": "../../etc"}, "cannot leave the run's folder"),
    ({"run_id": "0" * 32}, "no run with id"),
    ({"run_id": None}, "no run with id"),
])
def test_bad_register_requests_answer_with_an_error_and_write_nothing(
        runs: list[str], change: dict[str, Any], error: str) -> None:
    import trackbook as tb

    client = tb.Client()
    client.log_text(runs[2], MLMODEL, "model/MLmodel")
    client.log_text(runs[2], "n", "notes/readme.txt")
    request = {"type": "register", "id": "r", "run_id": runs[2], "path": "model",
               "name": "churn-model", **change}
    msg, buffers = tb.runs_table("sweep").handle_request(request)
    assert msg["ok"] is False
    assert error in msg["error"]
    assert buffers == []
    assert client.search_registered_models() == []


def test_mlflow3_logged_models_show_in_the_pane_and_register(runs: list[str]) -> None:
    """``log_model(name=...)`` keeps files outside the run's artifacts (MLflow 3): the pane
    lists them by name from the run's model outputs, next to artifact model folders."""
    from sklearn.linear_model import LogisticRegression

    import trackbook as tb

    clf = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    client = tb.Client()
    with tb.start_run(run_name="mlflow3") as run:
        info = tb.sklearn.log_model(clf, name="model", serialization_format="cloudpickle")
        client.log_text(run.info.run_id, MLMODEL, "legacy/MLmodel")
    with tb.start_run(run_name="elsewhere"):
        tb.sklearn.log_model(clf, name="theirs", serialization_format="cloudpickle")
    run_id = run.info.run_id
    tb.register_model(info.model_uri, "by-id")
    table = tb.runs_table("sweep")
    msg, _ = table.handle_request({"type": "run", "id": "r", "run_id": run_id})
    assert msg["ok"], msg
    assert msg["run"]["models"] == [
        {"path": "legacy", "flavors": ["python_function", "sklearn"], "versions": []},
        {"path": "model", "flavors": ["python_function", "sklearn"],
         "versions": [{"name": "by-id", "version": 1}], "model_id": info.model_id},
    ]
    assert not any(a["path"].startswith("model/") for a in msg["run"]["artifacts"])

    reply, _ = table.handle_request({"type": "register", "id": "r2", "run_id": run_id,
                                     "path": "model", "name": "churn"})
    assert reply["ok"], reply
    # MLflow 3: runs:/<run>/model names the run's logged model, whose URI is the source
    assert reply["registered"] == {"name": "churn", "version": 1, "run_id": run_id,
                                   "source": f"models:/{info.model_id}"}
    mv = client.get_model_version("churn", 1)
    assert mv.model_id == info.model_id  # the logged model behind it, as MLflow records
    assert tb.pyfunc.load_model("models:/churn/1").predict([[3.0]]).tolist() == [1]
    detail, _ = table.handle_request({"type": "run", "id": "r3", "run_id": run_id})
    assert detail["run"]["models"][1]["versions"] == [
        {"name": "by-id", "version": 1}, {"name": "churn", "version": 1}]
    bad, _ = table.handle_request({"type": "register", "id": "r4", "run_id": run_id,
                                   "path": "theirs", "name": "churn"})
    assert bad["ok"] is False
    assert "has no logged model at 'theirs'" in bad["error"]
