"""What a run records about where it came from, and what ``import trackbook`` costs.

These run real Python subprocesses: reproducibility tags depend on ``sys.argv[0]`` and
the current git checkout, and import costs need a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trackbook as tb

pytestmark = pytest.mark.usefixtures("tb_store")

SCRIPT = """
import trackbook as tb

tb.set_experiment("repro")
with tb.start_run() as run:
    tb.log_metric("x", 1.0)
print(run.info.run_id)
"""


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo), *args],
        capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run_script(script: Path, cwd: Path, store: Path) -> str:
    env = dict(os.environ, TRACKBOOK_STORE=str(store))
    out = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_reproducibility_tags_from_a_git_checkout(tmp_path: Path, tb_store: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    script = repo / "train.py"
    script.write_text(SCRIPT)
    (repo / "data.txt").write_text("v1\n")
    git(repo, "init", "-q")
    git(repo, "add", "train.py", "data.txt")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "HEAD")

    clean_id = run_script(script, repo, tb_store)
    (repo / "data.txt").write_text("v2\n")  # uncommitted change to a tracked file
    dirty_id = run_script(script, repo, tb_store)

    clean = tb.get_run(clean_id).data.tags
    assert clean["mlflow.source.git.commit"] == head
    assert clean["trackbook.git.dirty"] == "false"
    assert Path(clean["mlflow.source.name"]).resolve() == script.resolve()
    assert clean["mlflow.source.type"] == "LOCAL"
    assert clean["trackbook.python"] == platform.python_version()
    assert clean["mlflow.user"]
    packages = tb_store / clean["trackbook.packages"]
    assert packages.is_file()
    listing = packages.read_text()
    assert "\nduckdb==" in listing
    assert "\npyarrow==" in listing

    dirty = tb.get_run(dirty_id).data.tags
    assert dirty["mlflow.source.git.commit"] == head
    assert dirty["trackbook.git.dirty"] == "true"
    # the same environment is stored once, content-addressed
    assert dirty["trackbook.packages"] == clean["trackbook.packages"]


def test_no_git_tags_outside_a_checkout(tmp_path: Path, tb_store: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    script = plain / "train.py"
    script.write_text(SCRIPT)
    env_ceiling = dict(os.environ, GIT_CEILING_DIRECTORIES=str(tmp_path))
    out = subprocess.run([sys.executable, str(script)], cwd=plain, capture_output=True,
                         text=True, timeout=60, check=False,
                         env=dict(env_ceiling, TRACKBOOK_STORE=str(tb_store)))
    assert out.returncode == 0, out.stderr
    tags = tb.get_run(out.stdout.split()[-1]).data.tags
    assert not any(k.startswith("mlflow.source.git") for k in tags)
    assert Path(tags["mlflow.source.name"]).resolve() == script.resolve()


def fresh_python(code: str, store: Path) -> dict[str, object]:
    env = dict(os.environ, TRACKBOOK_STORE=str(store))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=60, env=env, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


HEAVY = ("pandas", "duckdb", "pyarrow", "plotly", "matplotlib", "anywidget", "ipywidgets")


def test_import_trackbook_loads_nothing_heavy(tb_store: Path) -> None:
    got = fresh_python(f"""
        import json, sys
        import trackbook
        import trackbook as mlflow
        mlflow.set_tracking_uri
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """, tb_store)
    assert got == []


def test_training_process_never_opens_duckdb(tb_store: Path) -> None:
    """Design rule 1: logging a whole run touches only files the run owns."""
    got = fresh_python("""
        import json, sys
        import trackbook as tb
        tb.set_experiment("train")
        with tb.start_run():
            tb.log_params({"lr": 0.1})
            tb.set_tag("t", "v")
            for i in range(2000):
                tb.log_metric("loss", 1.0 / (i + 1), step=i)
            tb.flush()
        print(json.dumps([m for m in ("duckdb", "plotly") if m in sys.modules]))
    """, tb_store)
    assert got == []
    assert not (tb_store / "catalog.duckdb").exists()
    df = tb.search_runs(search_all_experiments=True)
    assert list(df["status"]) == ["FINISHED"]
    assert df["metrics.loss"][0] == 1.0 / 2000


def test_logging_models_and_datasets_from_training_never_opens_duckdb(tb_store: Path) -> None:
    """Design rule 1 with MLflow 3's models and datasets, as autolog logs them: a model
    initialized then logged into (model_id=), metrics linked to it and to a dataset."""
    got = fresh_python("""
        import json, sys
        import numpy as np
        import trackbook as tb

        class Echo(tb.pyfunc.PythonModel):
            def predict(self, context, model_input):
                return model_input

        data = tb.data.from_numpy(np.arange(6.0).reshape(3, 2), name="train")
        with tb.start_run():
            tb.log_input(data, context="training")
            lm = tb.initialize_logged_model(name="model")
            for step in range(3):
                tb.log_metric("loss", 1.0 / (step + 1), step=step, model_id=lm.model_id,
                              dataset=data)
            info = tb.pyfunc.log_model(name="model", python_model=Echo(), model_id=lm.model_id)
            tb.log_metric("acc", 0.9, model_id=info.model_id)
        print(json.dumps({"modules": [m for m in ("duckdb",) if m in sys.modules],
                          "id": info.model_id == lm.model_id}))
    """, tb_store)
    assert got == {"modules": [], "id": True}
    assert not (tb_store / "catalog.duckdb").exists()
    (run,) = tb.search_runs(search_all_experiments=True, output_format="list")
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["train"]
    model = tb.get_logged_model(run.outputs.model_outputs[0].model_id)
    assert model.status == "READY"
    assert sorted((m.key, m.step, m.dataset_name) for m in model.metrics) == [
        ("acc", 0, None), ("loss", 0, "train"), ("loss", 1, "train"), ("loss", 2, "train")]
