"""Curves widget: DuckDB down-sampling (spikes survive, bounded points) and its messages."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

pytest.importorskip("anywidget")

STEPS = 5000
SPIKE_STEP, DIP_STEP = 3217, 4100


def _log_run(name: str, scale: float, steps: int = STEPS) -> str:
    import trackbook as tb

    with tb.start_run(run_name=name) as run:
        tb.log_params({"scale": scale, "model": "mlp"})
        for s in range(steps):
            v = scale * math.exp(-s / 1000)
            if s == SPIKE_STEP:
                v = 50.0
            elif s == DIP_STEP:
                v = -50.0
            tb.log_metric("loss", v, step=s)
            if s % 10 == 0:
                tb.log_metric("acc", 1 - v / 100, step=s)
        tb.log_metric("loss", float("nan"), step=steps)  # NaN points are dropped
        return run.info.run_id


@pytest.fixture
def runs(store: Path) -> list[str]:
    import trackbook as tb

    tb.set_experiment("curves")
    return [_log_run(f"run-{i}", 1.0 + i) for i in range(3)]


def series(table: pa.Table, run_id: str, key: str = "loss") -> pa.Table:
    mask = pc.and_(pc.equal(table["run_id"], run_id), pc.equal(table["key"], key))
    return table.filter(mask)


@pytest.mark.parametrize("buckets", [16, 100, 400])
def test_downsample_bounds_points_and_keeps_spikes(runs: list[str], buckets: int) -> None:
    from trackbook.tracking.uri import get_store
    from trackbook.widgets._curves_query import downsample

    table = downsample(get_store(), runs, ["loss"], "step", buckets)
    assert table.column_names == ["run_id", "key", "x", "value"]
    for run_id in runs:
        s = series(table, run_id)
        assert 0 < s.num_rows <= 2 * buckets
        assert pc.max(s["value"]).as_py() == 50.0  # the spike survives
        assert pc.min(s["value"]).as_py() == -50.0  # and so does the dip
        pts = dict(zip(s["x"].to_pylist(), s["value"].to_pylist(), strict=False))
        assert pts[SPIKE_STEP] == 50.0
        assert pts[DIP_STEP] == -50.0
        xs = s["x"].to_pylist()
        assert xs == sorted(xs)
        assert xs[0] == 0  # both ends kept: max of the first bucket, min of the last
        assert xs[-1] == STEPS - 1
        assert not any(math.isnan(v) for v in s["value"].to_pylist())


def test_short_series_are_sent_whole(runs: list[str]) -> None:
    from trackbook.tracking.uri import get_store
    from trackbook.widgets._curves_query import downsample

    table = downsample(get_store(), runs[:1], ["acc"], "step", 1000)
    assert table.num_rows == STEPS // 10
    assert series(table, runs[0], "acc")["x"].to_pylist() == [float(s) for s in
                                                              range(0, STEPS, 10)]


def test_x_axes_time_and_relative(runs: list[str]) -> None:
    from trackbook.tracking.uri import get_store
    from trackbook.widgets._curves_query import downsample

    rel = downsample(get_store(), runs[:1], ["loss"], "relative", 50)
    assert pc.min(rel["x"]).as_py() == 0.0
    wall = downsample(get_store(), runs[:1], ["loss"], "time", 50)
    assert pc.min(wall["x"]).as_py() > 1.6e12  # ms since the epoch
    with pytest.raises(ValueError, match="x must be one of"):
        downsample(get_store(), runs, ["loss"], "epoch", 50)


def _compacted_run(name: str, steps: int = 6000, chunks: int = 6) -> str:
    """A run whose points end in one compacted file (one row group per key)."""
    import trackbook as tb

    with tb.start_run(run_name=name) as run:
        per = steps // chunks
        for c in range(chunks):
            for s in range(c * per, (c + 1) * per):
                tb.log_metrics({"loss": 1 / (s + 1) + (5.0 if s == 4321 else 0.0),
                                "acc": s / steps}, step=s)
            tb.flush()  # one chunk per flush; at run end they are compacted
        return run.info.run_id


def _spy_scans(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record which files need a scan for their extents (footers did not tell)."""
    from trackbook.widgets import _curves_query as cq

    scanned: list[list[str]] = []
    real = cq._SCAN_EXTENT_SQL

    class Spy(str):
        def format(self, **kw: str) -> str:
            scanned.append([])
            return real.format(**kw)

    monkeypatch.setattr(cq, "_SCAN_EXTENT_SQL", Spy(real))
    return scanned


def test_compacted_runs_take_their_extents_from_parquet_footers(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trackbook as tb
    from trackbook.tracking.uri import get_store
    from trackbook.widgets._curves_query import downsample

    tb.set_experiment("compacted")
    run_id = _compacted_run("c")
    files = [p.name for p in (store / "runs" / run_id).glob("*.parquet")]
    assert len(files) == 1
    assert not files[0].startswith("c-")  # the compacted file, not a chunk
    scans = _spy_scans(monkeypatch)
    table = downsample(get_store(), [run_id], ["loss", "acc"], "step", 100)
    assert scans == []  # every extent came from the footer
    loss = series(table, run_id, "loss")
    assert loss.num_rows <= 200
    assert pc.max(loss["value"]).as_py() == pytest.approx(5.0 + 1 / 4322)  # spike kept
    assert loss["x"].to_pylist()[0] == 0
    assert loss["x"].to_pylist()[-1] == 5999
    acc = series(table, run_id, "acc")
    assert acc["x"].to_pylist()[-1] == 5999
    # the same points as when the extents are scanned
    live = _log_run("live", 1.0, steps=300)  # one small chunk mixing two keys
    scans = _spy_scans(monkeypatch)
    both = downsample(get_store(), [live, run_id], ["loss", "acc"], "step", 100)
    assert len(scans) == 1
    assert both.filter(pc.equal(both["run_id"], run_id)).equals(table)
    assert both["run_id"].to_pylist()[0] == live  # ordered like run_ids


def test_relative_time_starts_at_each_runs_first_point_over_all_keys(runs: list[str]) -> None:
    from trackbook.tracking.uri import get_store
    from trackbook.widgets._curves_query import downsample

    rel = downsample(get_store(), runs, ["acc", "loss"], "relative", 50)
    for run_id in runs:
        first = min(series(rel, run_id, "loss")["x"].to_pylist()[0],
                    series(rel, run_id, "acc")["x"].to_pylist()[0])
        assert first == 0.0
    assert list(dict.fromkeys(rel["key"].to_pylist())) == ["acc", "loss"]


def test_buckets_for_respects_the_total_budget() -> None:
    from trackbook.widgets._curves_query import MIN_BUCKETS, buckets_for

    assert buckets_for(1, 1000, 100_000) == 1000
    assert buckets_for(200, 1000, 100_000) == 250
    assert buckets_for(10_000, 1000, 100_000) == MIN_BUCKETS


def decode(reply: tuple[dict[str, Any], list[bytes]]) -> tuple[dict[str, Any], pa.Table]:
    """The reply and its points as a (run_id, key, x, value) table, decoded like the JS."""
    msg, buffers = reply
    assert msg["ok"], msg
    assert len(buffers) == 1
    packed = pa.ipc.open_stream(buffers[0]).read_all()
    assert packed.schema.types == [pa.float32(), pa.float32()]
    assert sum(s["n"] for s in msg["series"]) == packed.num_rows
    run_ids = [s["run_id"] for s in msg["series"] for _ in range(s["n"])]
    keys = [s["key"] for s in msg["series"] for _ in range(s["n"])]
    x = pc.add(packed["x"].cast(pa.float64()), msg["x0"])
    return msg, pa.table({"run_id": run_ids, "key": keys, "x": x,
                          "value": packed["value"].cast(pa.float64())})


def test_data_request_follows_the_table_selection(runs: list[str]) -> None:
    import trackbook as tb

    table = tb.runs_table("curves")
    chart = tb.curves(["loss", "acc"], runs=table, resolution=100)
    # nothing ticked: the table's first rows are drawn
    msg, points = decode(chart.handle_request({"type": "data", "id": "d"}))
    assert {r["run_id"] for r in msg["runs"]} == set(runs)
    assert set(points["key"].to_pylist()) == {"loss", "acc"}
    table.selected = runs[:2]
    assert chart.runs == runs[:2]
    msg, points = decode(chart.handle_request({"type": "data", "id": "d"}))
    assert [r["name"] for r in msg["runs"]] == ["run-0", "run-1"]
    assert msg["runs"][0]["params"] == {"scale": "1.0", "model": "mlp"}  # differing first
    assert set(points["run_id"].to_pylist()) == set(runs[:2])
    assert msg["points"] == points.num_rows <= 2 * msg["buckets"] * 4


@pytest.mark.parametrize("x_axis", ["step", "time", "relative"])
def test_wire_format_is_compact_and_decodes_to_the_points(runs: list[str], x_axis: str) -> None:
    import trackbook as tb
    from trackbook.tracking.uri import get_store
    from trackbook.widgets._curves_query import downsample

    chart = tb.curves(["loss", "acc"], runs=runs, resolution=200, x=x_axis)
    reply = chart.handle_request({"type": "data", "id": "d"})
    msg, points = decode(reply)
    want = downsample(get_store(), runs, ["loss", "acc"], x_axis, msg["buckets"])
    assert points["run_id"].to_pylist() == want["run_id"].to_pylist()
    assert points["key"].to_pylist() == want["key"].to_pylist()
    # float32 on the wire: x is an offset from x0, so even wall-clock ms stay within 1 ms
    span = pc.max(want["x"]).as_py() - msg["x0"]
    assert pc.max(pc.abs(pc.subtract(points["x"], want["x"]))).as_py() <= max(1.0, span / 2**23)
    assert points["value"].to_pylist() == pytest.approx(want["value"].to_pylist(), rel=1e-6)
    assert len(reply[1][0]) < 9 * points.num_rows + 1000  # ~8 bytes per point
    assert [(s["run_id"], s["key"]) for s in msg["series"]] == [
        (r, k) for r in runs for k in ("loss", "acc")]


def test_display_starts_the_data_reply_that_the_first_request_takes(
        runs: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import trackbook as tb
    from trackbook.widgets import _curves_query as cq

    table = tb.runs_table("curves")
    chart = tb.curves("loss", runs=table, resolution=50)
    calls = []
    real = cq.downsample
    monkeypatch.setattr(cq, "downsample", lambda *a, **kw: calls.append(a[1]) or real(*a, **kw))
    bundle = chart._repr_mimebundle_()
    assert bundle  # still the widget's own bundle
    _, points = decode(chart.handle_request({"type": "data", "id": "d"}))
    assert len(calls) == 1  # the prefetched answer, not a second query
    assert set(points["run_id"].to_pylist()) == set(runs)
    # the selection changed after the display: the prefetched answer no longer fits
    chart._repr_mimebundle_()
    table.selected = runs[:1]
    _, points = decode(chart.handle_request({"type": "data", "id": "d"}))
    assert set(points["run_id"].to_pylist()) == {runs[0]}
    assert calls[-1] == [runs[0]]


def test_a_failed_prefetch_is_an_error_reply(runs: list[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import trackbook as tb
    from trackbook.widgets import _curves_query as cq

    chart = tb.curves("loss", runs=runs)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk on fire")

    monkeypatch.setattr(cq, "downsample", boom)
    chart._repr_mimebundle_()
    msg, buffers = chart.handle_request({"type": "data", "id": "d"})
    assert msg["ok"] is False
    assert "disk on fire" in msg["error"]
    assert buffers == []


def test_curves_with_run_ids_and_fallbacks(runs: list[str]) -> None:
    import trackbook as tb

    chart = tb.curves("loss", runs=runs[2:], x="relative")
    msg, points = decode(chart.handle_request({"type": "data", "id": "d", "x_axis": "step"}))
    assert msg["x_axis"] == "step"
    assert set(points["run_id"].to_pylist()) == {runs[2]}
    text = repr(chart)
    assert "run-2" in text
    assert "max 50" in text
    assert "<td>run-2</td>" in chart._repr_html_()
    with pytest.raises(tb.TrackbookError, match="at least one metric"):
        tb.curves([])
    with pytest.raises(Exception, match="smoothing"):
        tb.curves("loss", runs=runs, smoothing=1.5)
