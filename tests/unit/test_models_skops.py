"""Pickles run code: the warning is said, and scikit-learn's safe path (skops) works as in
MLflow 3 -- the same files, trusted types only, and MLflow's own skops models load."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from models_helpers import notebook_fixture, training_data
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import trackbook as tb
from trackbook.models import UntrustedTypesError
from trackbook.models import sklearn as tsk

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mlflow"
TREE = "sklearn.tree._tree.Tree"
WARNING = re.compile(r"executes code from its files.*only load (\w+ )?models you trust",
                     re.IGNORECASE | re.DOTALL)

notebook = pytest.fixture(notebook_fixture)


def _flat(text: str | None) -> str:
    return " ".join((text or "").split())


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(tb.__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "trackbook", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_the_pickle_warning_is_in_load_model_docs_and_serve_help() -> None:
    from trackbook.models import loading, pyfunc, pytorch

    for doc in (tb.pyfunc.load_model.__doc__, tb.sklearn.load_model.__doc__,
                tb.pytorch.load_model.__doc__, loading.__doc__, pyfunc.__doc__,
                pyfunc._load_pyfunc.__doc__, pytorch.__doc__, tsk.__doc__):
        assert WARNING.search(_flat(doc)), doc
    for command in ("serve", "predict"):
        proc = _cli("models", command, "--help")
        assert proc.returncode == 0, proc.stderr
        assert WARNING.search(_flat(proc.stdout)), proc.stdout
        assert "--skops-trusted-type" in proc.stdout


def test_skops_is_the_default_and_written_as_mlflow_writes_it(tmp_path: Path) -> None:
    X, y = training_data()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    meta = tsk.save_model(model, tmp_path / "m", input_example=X[:3])
    assert zipfile.is_zipfile(tmp_path / "m" / "model.skops")  # skops' zip, not a pickle
    assert not (tmp_path / "m" / "model.pkl").exists()
    flavors = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]
    # the fields MLflow 3.17's mlflow.sklearn.save_model writes (see skops-lr/MLmodel)
    ours = {k: v for k, v in flavors["sklearn"].items() if k != "sklearn_version"}
    assert ours == {"pickled_model": "model.skops", "serialization_format": "skops",
                    "skops_trusted_types": None, "code": None}
    mlflows = yaml.safe_load((FIXTURES / "skops-lr" / "MLmodel").read_text())["flavors"]
    assert set(flavors["sklearn"]) == set(mlflows["sklearn"])
    assert flavors["python_function"]["model_path"] == "model.skops"
    assert "skops==" in (tmp_path / "m" / "requirements.txt").read_text()
    assert meta.flavors["sklearn"]["serialization_format"] == "skops"

    raw = tb.sklearn.load_model(tmp_path / "m")
    assert np.array_equal(raw.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(tb.pyfunc.load_model(tmp_path / "m").predict(X), model.predict(X))


def test_log_model_in_skops_loads_from_its_runs_uri(tb_store) -> None:
    X, y = training_data()
    model = LogisticRegression().fit(X, y)
    with tb.start_run():
        info = tb.sklearn.log_model(model, name="m", serialization_format="skops")
    assert info.flavors["sklearn"]["pickled_model"] == "model.skops"
    assert np.array_equal(tb.pyfunc.load_model(info.model_uri).predict(X), model.predict(X))


def test_an_untrusted_type_is_refused_by_name_and_accepted_with_the_opt_in(
        tmp_path: Path) -> None:
    X, y = training_data()
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    with pytest.raises(UntrustedTypesError, match=re.escape(f"skops_trusted_types=['{TREE}']")):
        tsk.save_model(tree, tmp_path / "refused", serialization_format="skops")
    assert not (tmp_path / "refused").exists()
    tsk.save_model(tree, tmp_path / "m", serialization_format="skops",
                   skops_trusted_types=[TREE])
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["sklearn"]
    assert conf["skops_trusted_types"] == [TREE]

    # the MLmodel's own list is not trust: the loader must name the type
    for load in (tb.sklearn.load_model, tb.pyfunc.load_model):
        with pytest.raises(UntrustedTypesError) as err:
            load(tmp_path / "m")
        assert err.value.types == [TREE]
        message = str(err.value)
        assert f"skops_trusted_types=['{TREE}']" in message
        assert f"--skops-trusted-type {TREE}" in message
        assert "does not take it on trust" in message
        assert isinstance(err.value, tb.TrackbookError)
    with pytest.raises(UntrustedTypesError):  # trusting something else is no help
        tb.sklearn.load_model(tmp_path / "m", skops_trusted_types=["numpy.float64"])
    raw = tb.sklearn.load_model(tmp_path / "m", skops_trusted_types=[TREE])
    assert np.array_equal(raw.predict_proba(X), tree.predict_proba(X))
    loaded = tb.pyfunc.load_model(tmp_path / "m", skops_trusted_types=[TREE])
    assert np.array_equal(loaded.predict(X), tree.predict(X))


def test_the_default_falls_back_to_cloudpickle_saying_why(tmp_path: Path, caplog) -> None:
    X, y = training_data()
    tree = DecisionTreeClassifier(max_depth=2).fit(X, y)
    with caplog.at_level(logging.WARNING, logger="trackbook.models.sklearn"):
        meta = tsk.save_model(tree, tmp_path / "m")
    assert meta.flavors["sklearn"]["serialization_format"] == "cloudpickle"
    assert (tmp_path / "m" / "model.pkl").exists()
    assert TREE in caplog.text
    assert "serialization_format='skops'" in caplog.text
    assert np.array_equal(tb.sklearn.load_model(tmp_path / "m").predict(X), tree.predict(X))


def test_skops_refuses_classes_only_this_process_can_import(notebook, tmp_path: Path,
                                                            caplog) -> None:
    ns = notebook("""
        from sklearn.base import BaseEstimator, TransformerMixin

        class Double(BaseEstimator, TransformerMixin):
            def fit(self, X, y=None):
                return self

            def transform(self, X):
                return X * 2
    """)
    X, y = training_data()
    pipe = make_pipeline(ns["Double"](), LogisticRegression()).fit(X, y)
    with pytest.raises(tb.models.ModelError, match=r"__main__\.Double.*cloudpickle"):
        tsk.save_model(pipe, tmp_path / "skops", serialization_format="skops",
                       skops_trusted_types=["__main__.Double"])
    with caplog.at_level(logging.WARNING, logger="trackbook.models.sklearn"):
        meta = tsk.save_model(pipe, tmp_path / "default")
    assert meta.flavors["sklearn"]["serialization_format"] == "cloudpickle"
    assert "__main__.Double" in caplog.text
    with pytest.raises(tb.models.ModelError, match="skops_trusted_types applies to"):
        tsk.save_model(pipe, tmp_path / "x", serialization_format="pickle",
                       skops_trusted_types=[TREE])
    with pytest.raises(tb.models.ModelError, match="list of type names"):
        tsk.save_model(pipe, tmp_path / "y", skops_trusted_types=TREE)


def test_a_damaged_skops_file_is_a_clear_error(tmp_path: Path) -> None:
    X, y = training_data()
    tsk.save_model(LogisticRegression().fit(X, y), tmp_path / "m")
    (tmp_path / "m" / "model.skops").write_bytes(b"not a zip")
    with pytest.raises(tb.models.ModelError, match="not a readable skops file"):
        tb.sklearn.load_model(tmp_path / "m")


# -- MLflow 3.17's own skops models (tests/fixtures/mlflow/make_skops_models.py) ------------

def _made_by_mlflow() -> tuple[dict, pd.DataFrame]:
    made = json.loads((FIXTURES / "skops-models.json").read_text())
    return made, pd.DataFrame(made["probe"])


def test_mlflows_skops_models_load_and_predict_the_same() -> None:
    made, probe = _made_by_mlflow()
    assert made["mlflow_version"].startswith("3.17")
    lr = tb.pyfunc.load_model(FIXTURES / "skops-lr")
    assert lr.metadata.mlflow_version == made["mlflow_version"]
    assert lr.predict(probe).tolist() == made["skops-lr"]["predictions"]
    proba = tb.sklearn.load_model(FIXTURES / "skops-lr").predict_proba(probe)[:, 1]
    # computed in MLflow's venv (its own numpy build): equal up to rounding
    assert proba.tolist() == pytest.approx(made["skops-lr"]["proba"], rel=1e-9)

    with pytest.raises(UntrustedTypesError, match=re.escape(TREE)):
        tb.pyfunc.load_model(FIXTURES / "skops-tree")
    tree = tb.pyfunc.load_model(FIXTURES / "skops-tree", skops_trusted_types=[TREE])
    assert tree.predict(probe).tolist() == made["skops-tree"]["predictions"]
    raw = tb.sklearn.load_model(FIXTURES / "skops-tree", skops_trusted_types=[TREE])
    assert raw.predict_proba(probe)[:, 1].tolist() == pytest.approx(made["skops-tree"]["proba"])


def test_mlflows_skops_models_are_served() -> None:
    made, probe = _made_by_mlflow()
    body = (FIXTURES / "skops-lr" / "serving_input_example.json").read_bytes()
    example = pd.read_json(FIXTURES / "skops-lr" / "input_example.json", orient="split")
    expected = tb.sklearn.load_model(FIXTURES / "skops-lr").predict(example).tolist()
    with tb.models.ScoringServer(FIXTURES / "skops-lr", port=0) as server:
        status, reply, _ = server.invocations(body, "application/json")
        assert status == 200, reply
        assert json.loads(reply)["predictions"] == expected
        status, reply, _ = server.invocations(
            {"dataframe_split": probe.to_dict("split")}, "application/json")
        assert json.loads(reply)["predictions"] == made["skops-lr"]["predictions"]
    tree = tb.pyfunc.load_model(FIXTURES / "skops-tree", skops_trusted_types=[TREE])
    with tb.models.ScoringServer(tree, port=0) as server:
        status, reply, _ = server.invocations(
            {"dataframe_split": probe.to_dict("split")}, "application/json")
        assert status == 200, reply
        assert json.loads(reply)["predictions"] == made["skops-tree"]["predictions"]


def test_the_cli_refuses_untrusted_types_and_takes_the_opt_in(tmp_path: Path) -> None:
    made, probe = _made_by_mlflow()
    probe.to_csv(tmp_path / "probe.csv", index=False)
    args = ["models", "predict", "-m", str(FIXTURES / "skops-tree"), "-i",
            str(tmp_path / "probe.csv")]
    refused = _cli(*args)
    assert refused.returncode != 0
    assert f"--skops-trusted-type {TREE}" in refused.stderr
    assert "Traceback" not in refused.stderr
    ok = _cli(*args, "--skops-trusted-type", TREE)
    assert ok.returncode == 0, ok.stderr
    got = pd.read_csv(pd.io.common.StringIO(ok.stdout))["prediction"].tolist()
    assert got == made["skops-tree"]["predictions"]


def _with_shadowing_code(tmp_path: Path) -> Path:
    """A skops model whose MLmodel puts a ``code/`` on sys.path holding a fake ``sklearn``
    that leaves a marker file when imported: what a crafted model could ship."""
    X, y = training_data()
    model_dir = tmp_path / "m"
    tsk.save_model(LogisticRegression().fit(X, y), model_dir)
    (model_dir / "code" / "sklearn").mkdir(parents=True)
    (model_dir / "code" / "sklearn" / "__init__.py").write_text(
        f"open({str(tmp_path / 'RAN')!r}, 'w').close()\nraise ImportError('shadowed')\n")
    raw = yaml.safe_load((model_dir / "MLmodel").read_text())
    raw["flavors"]["sklearn"]["code"] = raw["flavors"]["python_function"]["code"] = "code"
    (model_dir / "MLmodel").write_text(yaml.safe_dump(raw))
    return model_dir


@pytest.mark.parametrize("loader", ["tb.pyfunc.load_model", "tb.sklearn.load_model"])
def test_a_skops_model_cannot_run_its_own_code_on_load(tmp_path: Path, loader: str) -> None:
    model_dir = _with_shadowing_code(tmp_path)
    script = (f"import sys, trackbook as tb\nassert 'sklearn' not in sys.modules\n"
              f"m = {loader}({str(model_dir)!r})\nprint(type(m).__name__)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(tb.__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (tmp_path / "RAN").exists()


def test_a_skops_model_naming_another_loader_is_refused(tmp_path: Path) -> None:
    X, y = training_data()
    tsk.save_model(LogisticRegression().fit(X, y), tmp_path / "m")
    path = tmp_path / "m" / "MLmodel"
    path.write_text(path.read_text().replace("loader_module: mlflow.sklearn",
                                             "loader_module: trackbook.models.pyfunc"))
    with pytest.raises(tb.models.ModelError, match="would run other code"):
        tb.pyfunc.load_model(tmp_path / "m")
