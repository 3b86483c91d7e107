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
    assert page(tb.runs_table())[0]["total"] == N_RUNS + 1
    assert page(tb.runs_table(["sweep", "other"]))[0]["total"] == N_RUNS + 1
    assert page(tb.runs_table(experiment_ids=[other]))[0]["total"] == 1
    with pytest.raises(tb.TrackbookError, match="no experiment named"):
        tb.runs_table("missing")


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
