"""``mlflow.run`` / ``mlflow.projects.run``: MLflow's arguments, order and ``run_id`` resume.

The same small MLproject runs under the real MLflow 3.17 (its own venv) and under
trackbook, called the same ways; what each logs is compared.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import trackbook as tb
from mlflow_env import run_mlflow
from trackbook._errors import InvalidValueError, RunNotFoundError, UnsupportedFeatureError
from trackbook.projects.api import default_env_manager
from trackbook.projects.spec import load_project

MLPROJECT = """\
name: probe
entry_points:
  main:
    parameters:
      x: {type: float, default: 1.0}
    command: "python train.py {x}"
"""
# the project's script: trackbook's under trackbook, the real MLflow under MLflow
TRAIN = """\
import sys
try:
    import trackbook as mlflow
except ImportError:
    import mlflow
with mlflow.start_run():
    mlflow.log_metric("y", 2 * float(sys.argv[1]))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text(TRAIN)
    return folder


# The calls both sides make; each prints what it logged.
CALLS = """
import json, sys
import mlflow
project = sys.argv[1]
mlflow.set_experiment("probe")
out = {}
# MLflow's positional order: uri, entry_point, version, parameters
sub = mlflow.run(project, "main", None, {"x": 3}, env_manager="local")
r = mlflow.get_run(sub.run_id)
out["positional"] = [sub.get_status(), r.data.params, r.data.metrics,
                     r.data.tags.get("mlflow.project.entryPoint"),
                     r.data.tags.get("mlflow.project.backend"),
                     r.data.tags.get("mlflow.project.env")]
# run_id: the command continues an existing run; its params stay as they are
with mlflow.start_run(run_name="before") as run:
    mlflow.log_param("kept", "yes")
sub = mlflow.projects.run(project, parameters={"x": 5}, run_id=run.info.run_id,
                          synchronous=False, env_manager="local")
ok = sub.wait()
r = mlflow.get_run(run.info.run_id)
out["resume"] = [sub.run_id == run.info.run_id, ok, sub.get_status(), r.info.status,
                 r.data.params, r.data.metrics, r.info.run_name]
try:
    mlflow.run(project, experiment_name="a", experiment_id="0", env_manager="local")
    out["both_experiments"] = None
except Exception as e:
    out["both_experiments"] = type(e).__name__
try:
    mlflow.run(project, run_id="0" * 32, env_manager="local")
    out["unknown_run"] = None
except Exception as e:
    out["unknown_run"] = getattr(e, "error_code", type(e).__name__)
print("@@" + json.dumps(out))
"""


def _ours(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    import io
    from contextlib import redirect_stdout

    from trackbook import as_mlflow

    monkeypatch.chdir(tmp_path)
    as_mlflow.install()
    monkeypatch.setattr(sys, "argv", ["calls", str(project)])
    buf = io.StringIO()
    try:
        with redirect_stdout(buf):
            exec(compile(CALLS, "calls.py", "exec"), {"__name__": "__main__"})
    finally:
        as_mlflow.uninstall()
    line = next(ln for ln in buf.getvalue().splitlines() if ln.startswith("@@"))
    return json.loads(line[2:])


@pytest.mark.usefixtures("tb_store")
def test_mlflow_run_matches_mlflow(project: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow's local env_manager runs `python` from PATH: make it MLflow's venv python
    theirs = run_mlflow("import os, sys, mlflow\n"
                        "os.environ['PATH'] = os.path.dirname(sys.executable) + os.pathsep"
                        " + os.environ['PATH']\n"
                        "mlflow.set_tracking_uri('sqlite:///' + os.path.abspath('m.db'))\n"
                        + CALLS,
                        str(project), cwd=tmp_path)
    ours = _ours(project, tmp_path, monkeypatch)
    # MLflow 3.17.2 logs {"x": "3"}, y=6.0 and the tags entryPoint=main, backend=local (no
    # mlflow.project.env tag for a local run); resume: same id, FINISHED, params
    # {"kept": "yes"} only, y=10.0, the name unchanged; both experiment arguments and an
    # unknown run_id raise.
    assert theirs["positional"] == ["FINISHED", {"x": "3"}, {"y": 6.0}, "main", "local", None]
    # Known differences (README): trackbook logs a float parameter normalised ("3.0"), and
    # tags a local run's environment too.
    assert ours["positional"] == ["FINISHED", {"x": "3.0"}, {"y": 6.0}, "main", "local",
                                  "local"]
    assert ours["resume"] == theirs["resume"]
    assert theirs["resume"][4] == {"kept": "yes"}
    assert theirs["both_experiments"] == "MlflowException"
    assert ours["both_experiments"] == "InvalidValueError"  # a TrackbookError (MlflowException)
    assert theirs["unknown_run"] == ours["unknown_run"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.usefixtures("tb_store")
def test_mlflow_run_refuses_what_it_does_not_do(project: Path) -> None:
    assert tb.run is tb.projects.run
    for kwargs, name in [({"backend": "databricks"}, "backend"),
                         ({"backend": "kubernetes"}, "backend"),
                         ({"docker_args": {"memory": "1g"}}, "docker_args"),
                         ({"build_image": True}, "build_image"),
                         ({"docker_auth": {"username": "u"}}, "docker_auth"),
                         ({"backend_config": {"cluster": 1}}, "backend_config"),
                         ({"storage_dir": "/tmp/x"}, "storage_dir")]:
        with pytest.raises(UnsupportedFeatureError, match=name):
            tb.run(str(project), env_manager="local", **kwargs)
    # trackbook's old order (parameters third) is refused, not read as a version
    with pytest.raises(InvalidValueError, match="version"):
        tb.projects.run(str(project), "main", {"x": 2})  # type: ignore[arg-type]
    with pytest.raises(RunNotFoundError):
        tb.run(str(project), run_id="0" * 32, env_manager="local")
    assert tb.search_runs(output_format="list") == []  # nothing ran


def test_default_env_manager_is_mlflows(project: Path) -> None:
    # MLflow 3.17.2 (backend/local.py): no env_manager -> conda for a conda_env project,
    # virtualenv otherwise, even when the project declares no environment
    assert default_env_manager(load_project(project)) == "virtualenv"
    (project / "conda.yaml").write_text("name: probe\ndependencies: [python=3.11]\n")
    assert default_env_manager(load_project(project)) == "conda"
