"""Logging and a fresh kernel's first widget display must not import pandas, and logging
not pyarrow.compute either.

pandas costs ~0.5 s to import on this machine; pyarrow imports it behind ``pa.array``,
``Array.to_numpy`` and compute calls with Python scalars, so it creeps back in easily.
pyarrow.compute (~45 ms, behind ``Array.cast`` and ``take``) is a training script's
first durable point's largest avoidable cost. Checked in new processes, since this test
session imports both elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("anywidget")

WRITE = """
import sys, trackbook as tb
tb.set_tracking_uri(sys.argv[1]); tb.set_experiment("light")
for i in range(5):
    with tb.start_run(run_name=f"run-{i}"):
        tb.log_params({"lr": 0.1 * i, "model": "rf"})
        for step in range(20):
            tb.log_metrics({"acc": i / 5 + step, "loss": 1 / (i + step + 1)}, step=step)
        tb.set_tag("team", "ab"[i % 2])
print("pandas" in sys.modules, "pyarrow.compute" in sys.modules)
"""

DISPLAY = """
import json, sys, trackbook as tb
tb.set_tracking_uri(sys.argv[1])
table = tb.runs_table("light")
replies = [table.handle_request({"type": "columns", "id": "c"}),
           table.handle_request({"type": "page", "id": "p", "offset": 0, "limit": 50,
                                 "sort": [{"column": "metrics.acc", "desc": True}],
                                 "columns": ["attributes.run_name", "metrics.acc",
                                             "params.lr", "tags.team"]})]
chart = tb.curves(["loss", "acc"], runs=table)
replies.append(chart.handle_request({"type": "data", "id": "d"}))
print(json.dumps({"ok": [r[0]["ok"] for r in replies], "rows": replies[1][0].get("total"),
                  "points": replies[2][0].get("points"), "pandas": "pandas" in sys.modules}))
"""


def test_logging_and_first_widget_display_do_not_import_pandas(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    wrote = subprocess.run([sys.executable, "-c", WRITE, store], check=True,
                           capture_output=True, text=True).stdout
    pandas, compute = wrote.split()
    assert pandas == "False", "logging runs and metrics imported pandas"
    assert compute == "False", "logging runs and metrics imported pyarrow.compute"
    out = subprocess.run([sys.executable, "-c", DISPLAY, store], check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"] == [True, True, True], result
    assert result["rows"] == 5
    assert result["points"] == 5 * 2 * 20  # short series are sent whole
    assert result["pandas"] is False, "a widget's first display imported pandas"
