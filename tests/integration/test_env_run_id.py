"""Code started by a launcher logs into the launcher's run via $TRACKBOOK_RUN_ID."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import trackbook as tb


def test_start_run_resumes_the_run_named_in_the_environment(tmp_path: Path) -> None:
    store = tmp_path / "store"
    tb.set_tracking_uri(str(store))
    client = tb.Client()
    exp = client.create_experiment("launched")
    run = client.create_run(exp, run_name="parent-made")
    client.set_terminated(run.info.run_id, "FINISHED")
    script = ("import trackbook as tb\n"
              "with tb.start_run() as r:\n"
              "    tb.log_metric('m', 2.5)\n"
              "print(r.info.run_id)\n"
              "with tb.start_run() as r2:\n"
              "    pass\n"
              "print(r2.info.run_id)\n")
    env = dict(os.environ, TRACKBOOK_STORE=str(store), TRACKBOOK_RUN_ID=run.info.run_id)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    assert out[0] == run.info.run_id
    assert out[1] != run.info.run_id  # only the first run of the process is the handed one
    got = client.get_run(run.info.run_id)
    assert got.data.metrics == {"m": 2.5}
    assert got.info.status == "FINISHED"
