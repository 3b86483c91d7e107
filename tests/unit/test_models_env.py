"""Dependency capture: pinned requirements from what the model's code imports, notebook
code packaged as source, local modules as code, project files, and loud failures."""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from models_helpers import notebook_fixture, training_data
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from trackbook.models import DependencyWarning, Model
from trackbook.models import sklearn as tsk
from trackbook.models._errors import DependencyCaptureError
from trackbook.models.env import capture, read_requirements

notebook = pytest.fixture(notebook_fixture)


def _names(reqs: list[str]) -> set[str]:
    return {r.split("==")[0] for r in reqs}


def test_requirements_are_the_imported_distributions_pinned() -> None:
    X, y = training_data()
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    cap = capture(pipe, serialization_format="cloudpickle", extra_modules=["sklearn"])
    assert _names(cap.requirements) == {"scikit-learn", "numpy", "scipy", "cloudpickle"}
    assert f"scikit-learn=={md.version('scikit-learn')}" in cap.requirements
    assert f"numpy=={md.version('numpy')}" in cap.requirements
    assert not cap.uses_trackbook
    assert cap.main_code is None
    assert not cap.local_code


def test_env_files_agree(tmp_path: Path) -> None:
    X, y = training_data()
    tsk.save_model(LogisticRegression().fit(X, y), tmp_path / "m")
    reqs = read_requirements(tmp_path / "m")
    text = (tmp_path / "m" / "requirements.txt").read_text()
    assert text.startswith("# Captured by trackbook")
    assert "scikit-learn==" in text
    assert "  # " in text
    py_env = yaml.safe_load((tmp_path / "m" / "python_env.yaml").read_text())
    assert py_env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert py_env["dependencies"] == ["-r requirements.txt"]
    conda = yaml.safe_load((tmp_path / "m" / "conda.yaml").read_text())
    assert conda["dependencies"][-1] == {"pip": reqs}


def test_explicit_and_extra_requirements(tmp_path: Path) -> None:
    X, y = training_data()
    model = LogisticRegression().fit(X, y)
    tsk.save_model(model, tmp_path / "a", pip_requirements=["scikit-learn>=1.3"])
    assert read_requirements(tmp_path / "a") == ["scikit-learn>=1.3"]
    tsk.save_model(model, tmp_path / "b", extra_pip_requirements=["requests==2.0"])
    assert "requests==2.0" in read_requirements(tmp_path / "b")


NOTEBOOK_CELLS = [
    """
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin
    """,
    """
    SCALE = 2.0
    OFFSETS = {"a": 1}

    def helper(x):
        # a comment that must survive
        return np.log1p(np.abs(x)) * SCALE
    """,
    """
    class LogFeatures(BaseEstimator, TransformerMixin):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return helper(X) + OFFSETS["a"]
    """,
]


def test_notebook_classes_are_packaged_as_source(notebook, tmp_path: Path) -> None:
    for cell in NOTEBOOK_CELLS:
        ns = notebook(cell)
    X, y = training_data()
    pipe = make_pipeline(ns["LogFeatures"](), LogisticRegression()).fit(X, y)
    meta = tsk.save_model(pipe, tmp_path / "m")
    main = meta.trackbook["main_code"]
    assert main["names"] == ["helper", "LogFeatures"]
    source = main["source"]  # a readable copy: the pickle itself carries the source
    assert not (tmp_path / "m" / "code").exists()  # MLflow writes code/ for code_paths only
    for expected in ("import numpy as np", "from sklearn.base import BaseEstimator",
                     "SCALE = 2.0", "OFFSETS = {'a': 1}", "# a comment that must survive",
                     "class LogFeatures(BaseEstimator, TransformerMixin):"):
        assert expected in source
    assert source.index("def helper") < source.index("class LogFeatures")
    pickled = (tmp_path / "m" / "model.pkl").read_bytes()
    # no reference to __main__ (only the source's own header comment names it)
    assert pickled.count(b"__main__") == source.count("__main__")
    assert main["module"].encode() in pickled
    assert b"def helper" in pickled
    assert b"class LogFeatures" in pickled
    assert "code" not in meta.flavors["python_function"]  # MLflow's keys: code only for
    assert meta.flavors["sklearn"]["code"] is None          # code_paths
    compile(source, "packaged", "exec")


def test_the_latest_definition_of_a_redefined_class_is_packaged(notebook, tmp_path) -> None:
    notebook(NOTEBOOK_CELLS[0])
    notebook("class Scale(BaseEstimator, TransformerMixin):\n"
             "    def fit(self, X, y=None):\n        return self\n"
             "    def transform(self, X):\n        return X * 1\n")
    ns = notebook("class Scale(BaseEstimator, TransformerMixin):\n"
                  "    def fit(self, X, y=None):\n        return self\n"
                  "    def transform(self, X):\n        return X * 3\n")
    X, y = training_data()
    meta = tsk.save_model(make_pipeline(ns["Scale"](), LogisticRegression()).fit(X, y),
                          tmp_path / "m")
    source = meta.trackbook["main_code"]["source"]
    assert "X * 3" in source
    assert "X * 1" not in source


def test_code_that_cannot_be_written_as_source_is_pickled_by_value_loudly(
        notebook, tmp_path: Path) -> None:
    notebook(NOTEBOOK_CELLS[0])
    ns = notebook("""
    import pandas as pd
    LOOKUP = pd.DataFrame({"w": [2.0]})

    class Weighted(BaseEstimator, TransformerMixin):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return X * LOOKUP["w"][0]
    """)
    X, y = training_data()
    pipe = make_pipeline(ns["Weighted"](), LogisticRegression()).fit(X, y)
    with pytest.warns(DependencyWarning, match="global 'LOOKUP' .DataFrame.*pickled by value"):
        meta = tsk.save_model(pipe, tmp_path / "m")
    assert meta.trackbook["pickled_by_value"] == ["__main__.Weighted"]
    assert "pandas" in _names(read_requirements(tmp_path / "m"))  # LOOKUP's module
    with pytest.raises(DependencyCaptureError, match="serialization_format='cloudpickle'"):
        tsk.save_model(pipe, tmp_path / "p", serialization_format="pickle")
    assert not (tmp_path / "p").exists()  # a failed save leaves nothing behind


def test_a_lambda_is_reported(notebook, tmp_path: Path) -> None:
    ns = notebook("from sklearn.preprocessing import FunctionTransformer\n"
                  "square = lambda x: x ** 2\n")
    X, y = training_data()
    pipe = make_pipeline(ns["FunctionTransformer"](ns["square"]), LogisticRegression())
    with pytest.warns(DependencyWarning, match="lambdas have no name"):
        tsk.save_model(pipe.fit(X, y), tmp_path / "m")


def test_local_modules_are_packaged_as_code(tmp_path: Path, monkeypatch) -> None:
    lib = tmp_path / "src"
    lib.mkdir()
    (lib / "tb_test_featlib.py").write_text(
        "import numpy as np\nfrom sklearn.base import BaseEstimator, TransformerMixin\n\n"
        "class Clip(BaseEstimator, TransformerMixin):\n"
        "    def fit(self, X, y=None):\n        return self\n\n"
        "    def transform(self, X):\n        return np.clip(X, 0, 5)\n")
    monkeypatch.syspath_prepend(str(lib))
    monkeypatch.delitem(sys.modules, "tb_test_featlib", raising=False)
    import tb_test_featlib

    X, y = training_data()
    pipe = make_pipeline(tb_test_featlib.Clip(), LogisticRegression()).fit(X, y)
    meta = tsk.save_model(pipe, tmp_path / "m")
    assert (tmp_path / "m" / "code" / "tb_test_featlib.py").is_file()
    assert meta.trackbook["code"] == ["tb_test_featlib.py"]
    assert "numpy" in _names(read_requirements(tmp_path / "m"))
    monkeypatch.delitem(sys.modules, "tb_test_featlib")


def test_project_lockfiles_are_recorded(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "proj"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (project / "uv.lock").write_text("version = 1\n")
    monkeypatch.chdir(project / "notebooks")
    X, y = training_data()
    meta = tsk.save_model(LogisticRegression().fit(X, y), tmp_path / "m")
    assert meta.trackbook["project_files"] == ["project/pyproject.toml", "project/uv.lock"]
    assert (tmp_path / "m" / "project" / "uv.lock").read_text() == "version = 1\n"
    assert Model.load(tmp_path / "m").trackbook["project_root"] == str(project.resolve())


def _fresh_python(code: str, *args: str) -> list:
    """Run ``code`` in a new interpreter (this trackbook); its last line, parsed."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


LOAD_AND_PREDICT = """
    import json, sys
    import pandas as pd
    import trackbook as tb
    model = tb.pyfunc.load_model(sys.argv[1])
    X = pd.DataFrame(json.loads(sys.argv[2]))
    print(json.dumps([model.predict(X).tolist(), sorted(m for m in sys.modules
                                                        if m.startswith("tb_main_"))]))
"""


def test_notebook_code_loads_in_a_new_process_without_a_code_folder(
        notebook, tmp_path: Path) -> None:
    for cell in NOTEBOOK_CELLS:
        ns = notebook(cell)
    X, y = training_data()
    pipe = make_pipeline(ns["LogFeatures"](), LogisticRegression()).fit(X, y)
    for fmt in ("cloudpickle", "pickle"):  # plain pickle too: the bootstrap is stdlib only
        meta = tsk.save_model(pipe, tmp_path / fmt, serialization_format=fmt)
        assert not (tmp_path / fmt / "code").exists()
        got, modules = _fresh_python(LOAD_AND_PREDICT, str(tmp_path / fmt), X[:5].to_json())
        assert got == pipe.predict(X[:5]).tolist()
        assert modules == [meta.trackbook["main_code"]["module"]]


def test_models_with_code_folders_from_older_trackbook_still_load(
        tmp_path: Path, monkeypatch) -> None:
    """Before the source travelled in the pickle, trackbook wrote it to
    ``code/tb_main_<hash>.py`` and the pickle imported that module by name, with ``code:
    code`` in the flavors: such a model still loads in a new process."""
    src = tmp_path / "src"
    src.mkdir()
    name = "tb_main_0123456789ab"
    (src / f"{name}.py").write_text(
        "import numpy as np\nfrom sklearn.base import BaseEstimator, TransformerMixin\n\n"
        "class Clip(BaseEstimator, TransformerMixin):\n"
        "    def fit(self, X, y=None):\n        return self\n\n"
        "    def transform(self, X):\n        return np.clip(X, 0.2, 0.8)\n")
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.delitem(sys.modules, name, raising=False)
    module = __import__(name)
    X, y = training_data()
    pipe = make_pipeline(module.Clip(), LogisticRegression()).fit(X, y)
    meta = tsk.save_model(pipe, tmp_path / "m", serialization_format="cloudpickle")
    monkeypatch.delitem(sys.modules, name)
    (src / f"{name}.py").unlink()  # only the model's copy is left
    assert meta.flavors["sklearn"]["code"] == meta.flavors["python_function"]["code"] == "code"
    assert (tmp_path / "m" / "code" / f"{name}.py").is_file()
    assert name.encode() in (tmp_path / "m" / "model.pkl").read_bytes()
    got, modules = _fresh_python(LOAD_AND_PREDICT, str(tmp_path / "m"), X[:5].to_json())
    assert got == pipe.predict(X[:5]).tolist()
    assert modules == [name]


def test_a_loaded_models_packaged_code_is_packaged_again(notebook, tmp_path: Path) -> None:
    """Saving a loaded model again carries the same source (its module has no file)."""
    for cell in NOTEBOOK_CELLS:
        ns = notebook(cell)
    X, y = training_data()
    pipe = make_pipeline(ns["LogFeatures"](), LogisticRegression()).fit(X, y)
    tsk.save_model(pipe, tmp_path / "a", serialization_format="cloudpickle")
    resave = """
        import sys, warnings
        import trackbook as tb
        warnings.simplefilter("error")  # no "module without a source file" warning
        model = tb.sklearn.load_model(sys.argv[1])
        tb.sklearn.save_model(model, sys.argv[2], serialization_format="pickle")
        print("[]")
    """
    _fresh_python(resave, str(tmp_path / "a"), str(tmp_path / "b"))
    assert "numpy" in _names(read_requirements(tmp_path / "b"))  # the source's imports
    got, _ = _fresh_python(LOAD_AND_PREDICT, str(tmp_path / "b"), X[:5].to_json())
    assert got == pipe.predict(X[:5]).tolist()
