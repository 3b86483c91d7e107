"""MLflow's module layout under trackbook, `trackbook exec` / `%load_ext trackbook`, and the
MLflow environment variables (checked against MLflow 3.17.2's paths and names)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trackbook as tb

SRC = Path(tb.__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("MLFLOW_", "TRACKBOOK_"))}
    base["PYTHONPATH"] = os.pathsep.join([str(SRC), *(env or {}).pop("EXTRA_PATH", "").split(
        os.pathsep)]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120)


def test_mlflow_paths_resolve_to_one_module_object_each():
    import trackbook.client
    import trackbook.entities
    import trackbook.models
    import trackbook.sklearn
    import trackbook.tracking
    import trackbook.tracking.client
    from trackbook.entities import Metric, Param, Run, RunTag, ViewType
    from trackbook.models import ModelSignature, infer_signature
    from trackbook.tracking import MlflowClient

    assert MlflowClient is trackbook.client.Client is tb.MlflowClient
    assert trackbook.tracking.client.MlflowClient is MlflowClient
    assert tb.sklearn is sys.modules["trackbook.sklearn"]
    assert Run is type(tb.Client().get_run) or Run.__module__ == "trackbook.tracking.entities"
    assert (Metric, ViewType) == (tb.Metric, tb.ViewType)
    assert Param("a", "1").value == "1"
    assert RunTag("t", "v").key == "t"
    assert infer_signature is tb.models.infer_signature
    assert ModelSignature.__name__
    assert tb.entities.model_registry.ModelVersion.__name__ == "ModelVersion"
    assert tb.MlflowException is tb.TrackbookError


def test_errors_carry_mlflow_exception_fields(store):
    with pytest.raises(tb.MlflowException) as info:
        tb.get_run("0" * 32)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"  # MLflow's code for it
    assert info.value.message == str(info.value)
    with pytest.raises(tb.MlflowException) as info:
        tb.log_metric("m", "not a number")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


SCRIPT = """
import sys
import mlflow
import mlflow.sklearn
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.models import infer_signature, ModelSignature
from mlflow.exceptions import MlflowException
assert mlflow.sklearn is sys.modules["trackbook.sklearn"], mlflow.sklearn
assert mlflow.__name__ == "trackbook"
with mlflow.start_run(run_name="unchanged") as run:
    mlflow.log_param("argv", " ".join(sys.argv[1:]))
    mlflow.log_metric("m", 0.5, step=3)
print("RUN", run.info.run_id)
try:
    import mlflow.tensorflow
except ImportError as exc:
    print("IMPORT-ERROR", exc)
sys.exit(7)
"""


@pytest.fixture
def real_mlflow_on_path(tmp_path):
    """A package named ``mlflow`` on the path, as an installed MLflow would be."""
    pkg = tmp_path / "site" / "mlflow"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("REAL = True\n")
    (pkg / "sklearn.py").write_text("REAL = True\n")
    return str(tmp_path / "site")


def test_exec_runs_an_unchanged_script_on_trackbook(tmp_path, real_mlflow_on_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    store = tmp_path / "st"
    proc = _run(["-m", "trackbook", "exec", "--store", str(store), "--experiment", "exp",
                 "train.py", "a", "b"], tmp_path, {"EXTRA_PATH": real_mlflow_on_path})
    assert proc.returncode == 7, proc.stderr  # the script's exit status
    assert "IMPORT-ERROR mlflow.tensorflow is not supported by trackbook" in proc.stdout
    run_id = proc.stdout.split("RUN ")[1].split()[0]
    tb.set_tracking_uri(store)
    run = tb.get_run(run_id)
    assert run.data.params == {"argv": "a b"}
    assert run.data.metrics == {"m": 0.5}
    assert tb.get_experiment(run.info.experiment_id).name == "exp"


def test_exec_refuses_a_missing_script(tmp_path):
    proc = _run(["-m", "trackbook", "exec", "nope.py"], tmp_path)
    assert proc.returncode == 2
    assert "no script 'nope.py'" in proc.stderr


def test_a_leftover_mlflow_import_warns_that_it_reached_the_real_mlflow(
        tmp_path, real_mlflow_on_path):
    code = textwrap.dedent("""
        import warnings
        import trackbook as mlflow
        import mlflow.sklearn          # binds `mlflow` to the package on the path
        import trackbook as tb
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tb.start_run(); tb.end_run()
        print([str(w.category.__name__) for w in caught])
    """)
    proc = _run(["-c", code], tmp_path, {"EXTRA_PATH": real_mlflow_on_path,
                                        "TRACKBOOK_STORE": str(tmp_path / "st")})
    assert proc.returncode == 0, proc.stderr
    assert "RealMlflowWarning" in proc.stdout


def test_load_ext_maps_mlflow_in_an_ipython_kernel(tmp_path, real_mlflow_on_path):
    code = textwrap.dedent("""
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "trackbook")
        shell.run_cell("import mlflow.sklearn, sys\\n"
                       "ok = mlflow.sklearn is sys.modules['trackbook.sklearn']")
        print("OK", shell.user_ns["ok"])
    """)
    proc = _run(["-c", code], tmp_path, {"EXTRA_PATH": real_mlflow_on_path,
                                        "TRACKBOOK_STORE": str(tmp_path / "st")})
    assert proc.returncode == 0, proc.stderr
    assert "import mlflow` now gives trackbook" in proc.stdout
    assert "OK True" in proc.stdout


def test_install_refuses_once_the_real_mlflow_is_loaded(tmp_path, real_mlflow_on_path):
    code = "import mlflow, trackbook.as_mlflow as a\ntry:\n a.install()\nexcept Exception as e:" \
           "\n print(type(e).__name__, e)"
    proc = _run(["-c", code], tmp_path, {"EXTRA_PATH": real_mlflow_on_path})
    assert "TrackbookError the real MLflow is already imported" in proc.stdout, proc.stderr


@pytest.mark.parametrize("form", ["path", "file-uri"])
def test_mlflow_tracking_uri_and_experiment_name_are_honoured(tmp_path, form):
    store = tmp_path / "mlruns-like"
    uri = str(store) if form == "path" else store.as_uri()
    code = "import trackbook as tb\nwith tb.start_run() as r: tb.log_param('p', 1)\n" \
           "print(tb.get_tracking_uri()); print(tb.get_experiment(r.info.experiment_id).name)"
    proc = _run(["-c", code], tmp_path, {"MLFLOW_TRACKING_URI": uri,
                                        "MLFLOW_EXPERIMENT_NAME": "from-env"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [store.as_uri(), "from-env"]


def test_mlflow_experiment_id_is_honoured(tmp_path, store):
    exp = tb.create_experiment("by-id")
    code = "import trackbook as tb\nwith tb.start_run() as r: pass\nprint(r.info.experiment_id)"
    proc = _run(["-c", code], tmp_path, {"TRACKBOOK_STORE": str(store),
                                        "MLFLOW_EXPERIMENT_ID": exp})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == exp


@pytest.mark.parametrize(("uri", "words"), [
    ("http://127.0.0.1:5000", "is an MLflow tracking server"),
    ("https://mlflow.example.com", "is an MLflow tracking server"),
    ("databricks", "reads no 'databricks'"),
    ("sqlite:///mlflow.db", "reads no 'sqlite'"),
])
def test_server_and_database_uris_get_a_clear_error(monkeypatch, uri, words):
    monkeypatch.delenv("TRACKBOOK_STORE", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(tb.TrackbookError, match=words):
        tb.get_tracking_uri()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    tb.set_tracking_uri(uri)
    with pytest.raises(tb.TrackbookError, match="import-mlflow"):
        tb.get_tracking_uri()
