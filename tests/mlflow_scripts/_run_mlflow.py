"""Run example scripts with the real MLflow and dump what each logged (MLflow's venv only).

``python _run_mlflow.py OUT JOBS script.py...``: every script runs in a fresh subprocess,
``JOBS`` at a time, in ``OUT/<script>/`` with ``MLFLOW_TRACKING_URI`` a SQLite database
there (MLflow 3.17 refuses a bare ``./mlruns`` file store without an opt-out and
recommends SQLite for local use). The database's migrations run once, in a template the
scripts' databases are copied from. This process then reads each store with
``MlflowClient`` and writes ``OUT/<script>/dump.json`` and ``OUT/<script>/result.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _dump


def _run(script: Path, work: Path, template: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, work / "mlflow.db")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    return {"rc": proc.returncode, "seconds": round(time.perf_counter() - started, 2),
            "stdout": proc.stdout[-3000:], "stderr": proc.stderr[-6000:]}


def main(out: str, jobs: str, *scripts: str) -> None:
    import mlflow

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    template = root / "template.db"
    mlflow.MlflowClient(f"sqlite:///{template}").search_experiments()  # runs migrations
    with ThreadPoolExecutor(int(jobs)) as pool:
        futures = {s: pool.submit(_run, Path(s), root / Path(s).stem, template)
                   for s in scripts}
        for script, future in futures.items():
            work = root / Path(script).stem
            result = future.result()
            client = mlflow.MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
            _dump.write(client, str(work), str(work / "dump.json"))
            (work / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
