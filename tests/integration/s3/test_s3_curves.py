"""Reading points on an ``s3://`` store (real SeaweedFS) whose runs were written on
another machine: the curves widget's data message, ``get_metric_history`` and ``tb.sql``
are exact at once, with the replica's background download of metric files turned off
(each must fetch what it reads)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from s3_store_helpers import Machines, finish, reader

import trackbook as tb
from trackbook.tracking.uri import get_store

pytest.importorskip("anywidget")
from trackbook.widgets import curves

STEPS = 2000
WRITER = f"""
import sys
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
tb.set_experiment("curves")
for i in range(3):
    with tb.start_run(run_name=f"r{{i}}") as run:
        for step in range({STEPS}):
            tb.log_metric("loss", 1000 * i + step + (500 if step == 1234 else 0), step=step)
        print(run.info.run_id)
"""


def _expected(i: int) -> list[tuple[float, float]]:
    return [(s, 1000 * i + s + (500 if s == 1234 else 0)) for s in range(STEPS)]


def test_points_of_runs_from_another_machine_are_exact_at_once(
        s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    machines = Machines(tmp_path)
    try:
        # small chunks: each run is several chunk files, compacted at its end
        ids = finish(machines.start("writer", WRITER, s3_url,
                                    TRACKBOOK_FLUSH_POINTS="300")).split()
    finally:
        machines.close()
    with reader(s3_url, tmp_path / "notebook", monkeypatch):
        store = get_store()
        monkeypatch.setattr(store.puller, "on_metrics", lambda keys: None)  # no prefetch
        runs = tb.search_runs(experiment_names=["curves"], output_format="list")
        assert len(runs) == 3  # the catalog knows the runs; the replica has no points yet
        assert not list(store.layout.runs_dir.glob("*/*.parquet"))

        widget = curves("loss", runs=[ids[0]], resolution=STEPS)
        meta, (ipc,) = widget._req_data({"x_axis": "step"})
        points = pa.ipc.open_stream(ipc).read_all()
        assert meta["series"] == [{"run_id": ids[0], "key": "loss", "n": STEPS}]
        got = [(x + meta["x0"], v) for x, v in zip(points["x"].to_pylist(),
                                                   points["value"].to_pylist(), strict=True)]
        assert got == _expected(0)

        frame = tb.sql("SELECT step, value FROM metrics WHERE run_id = ? ORDER BY step",
                       [ids[1]])
        assert list(zip(frame["step"], frame["value"], strict=True)) == _expected(1)

        history = tb.Client().get_metric_history(ids[2], "loss")
        assert [(m.step, m.value) for m in history] == _expected(2)
