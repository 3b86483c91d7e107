"""A script that exits without end_run() must still land every point it logged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import trackbook as tb


def test_points_logged_just_before_exit_are_flushed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    script = textwrap.dedent("""
        import trackbook as tb
        tb.set_experiment("exit")
        tb.start_run(run_name="short")
        tb.log_metric("m", 1.5)
        tb.log_metrics({"a": 2.0, "b": 3.0}, step=4)
    """)
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", script],
                          env={"TRACKBOOK_STORE": str(store), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "could not flush" not in proc.stderr
    tb.set_tracking_uri(str(store))
    df = tb.search_runs(experiment_names=["exit"])
    assert df["status"].tolist() == ["FINISHED"]
    assert df[["metrics.m", "metrics.a", "metrics.b"]].iloc[0].tolist() == [1.5, 2.0, 3.0]
