"""Compare widget: default axes, data replies, and the selection shared with the table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

pytest.importorskip("anywidget")


@pytest.fixture
def runs(store: Path) -> list[str]:
    import trackbook as tb

    tb.set_experiment("cmp")
    ids = []
    for i in range(6):
        with tb.start_run(run_name=f"run-{i}") as run:
            tb.log_params({"lr": 10 ** -(i % 3), "depth": i % 2 + 3, "seed": 1})
            tb.log_metric("acc", i / 10)
            ids.append(run.info.run_id)
    return ids


def test_defaults_are_differing_params_and_first_metric(runs: list[str]) -> None:
    import trackbook as tb

    chart = tb.compare(tb.runs_table("cmp"))
    assert chart.params == ["params.depth", "params.lr"]  # seed is the same everywhere
    assert chart.metric == "metrics.acc"
    explicit = tb.compare(tb.runs_table("cmp"), ["lr"], "acc")
    assert explicit.params == ["params.lr"]
    assert explicit.metric == "metrics.acc"


def test_data_reply_follows_the_table_filter_and_order(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("cmp", sort=["metrics.acc DESC"], filter="params.depth = '3'")
    chart = tb.compare(table, ["lr", "depth"], "acc")
    msg, buffers = chart.handle_request({"type": "data", "id": "d"})
    assert msg["ok"], msg
    rows = pa.ipc.open_stream(buffers[0]).read_all()
    assert rows.column_names == ["__run_id", "attributes.run_name", "params.lr", "params.depth",
                                 "metrics.acc"]
    assert msg["total"] == 3
    assert rows["metrics.acc"].to_pylist() == [0.4, 0.2, 0.0]
    assert msg["x"] == "params.lr"
    assert "<caption>compare 3 runs by metrics.acc</caption>" in chart._repr_html_()


def test_selection_is_shared_both_ways(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("cmp")
    chart = tb.compare(table)
    chart.selected = runs[:2]
    assert table.selected == runs[:2]
    table.selected = runs[3:4]
    assert chart.selected == runs[3:4]


def test_compare_refuses_other_inputs(runs: list[str]) -> None:
    import trackbook as tb

    with pytest.raises(tb.TrackbookError, match="needs a RunsTable"):
        tb.compare(runs)  # type: ignore[arg-type]
    with pytest.raises(tb.TrackbookError, match="unknown column"):
        tb.compare(tb.runs_table("cmp"), ["lr"], "acc", x="nope")
