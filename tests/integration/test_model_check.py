"""Models load in a process that never saw the code that made them.

- a class defined in ``__main__`` (a script standing in for a notebook) is saved by one
  process and loaded by another, from a folder where that script cannot be imported;
- a local module next to the script is packaged as code the same way;
- ``tb.models.check`` builds a fresh virtualenv from the model's requirements (slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trackbook as tb

SAVE_SCRIPT = """
import json, sys
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
import trackbook as tb
from featlib import Clip          # a local module next to this script

SCALE = 3.0

def squash(x):
    return np.tanh(x * SCALE)

class Squash(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return squash(X)

class Doubler(tb.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return squash(model_input["a"].to_numpy()) * 2

rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
y = (X.a > 0).astype(int)
pipe = make_pipeline(Clip(), Squash(), LogisticRegression()).fit(X, y)
tb.sklearn.save_model(pipe, sys.argv[1] + "/sk", input_example=X[:3])
tb.models.save_model(Doubler(), sys.argv[1] + "/py", input_example=X[:3])
print(json.dumps({"sk": pipe.predict_proba(X[:5])[:, 1].tolist(),
                  "py": Doubler().predict(None, X[:5]).tolist(), "x": X[:5].to_dict("list")}))
"""

FEATLIB = """
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

class Clip(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.clip(X, -2, 2)
"""

LOAD_SCRIPT = """
import json, sys
import pandas as pd
import trackbook as tb
x = pd.DataFrame(json.loads(sys.argv[2]))
sk = tb.pyfunc.load_model(sys.argv[1] + "/sk")
print(json.dumps({"sk": sk.get_raw_model().predict_proba(x)[:, 1].tolist(),
                  "py": tb.pyfunc.load_model(sys.argv[1] + "/py").predict(x).tolist(),
                  "main_in_modules": [m for m in sys.modules if m.startswith("featlib")]}))
"""


def _python(code: str, *args: str, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                         capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Models saved by a script whose classes live in __main__ and a local module."""
    root = tmp_path_factory.mktemp("notebook_class")
    project = root / "project"
    project.mkdir()
    (project / "featlib.py").write_text(textwrap.dedent(FEATLIB))
    (project / "train.py").write_text(textwrap.dedent(SAVE_SCRIPT))
    out = root / "models"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "train.py", str(out)], capture_output=True,
                          text=True, cwd=project, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout.strip().splitlines()[-1])


def test_main_classes_and_local_modules_load_in_a_new_process(saved, tmp_path: Path) -> None:
    models, expected = saved
    assert (models / "sk" / "code" / "featlib.py").is_file()
    main_code = tb.models.Model.load(models / "sk").trackbook["main_code"]
    assert main_code["names"] == ["squash", "Squash"]
    got = _python(textwrap.dedent(LOAD_SCRIPT), str(models), json.dumps(expected["x"]),
                  cwd=tmp_path)
    assert got["sk"] == pytest.approx(expected["sk"])
    assert got["py"] == pytest.approx(expected["py"])
    assert got["main_in_modules"] == ["featlib"]  # imported from the model's code/ folder


@pytest.mark.slow
def test_check_builds_a_fresh_env_and_reuses_it(saved, tmp_path: Path) -> None:
    """Builds a virtualenv with pip (from the machine's pip cache/mirror), so it is slow."""
    models, _ = saved
    lines: list[str] = []
    result = tb.models.check(models / "sk", cache_dir=tmp_path / "envs", progress=lines.append)
    assert result.ok
    assert result.matches_local is True
    assert not result.reused_env
    assert any(r.startswith("scikit-learn==") for r in result.requirements)
    assert any("installing" in line for line in lines)
    assert (result.env_dir / "bin" / "python").exists()
    again = tb.models.check(models / "sk", cache_dir=tmp_path / "envs", progress=False)
    assert again.ok
    assert again.reused_env
    assert again.env_dir == result.env_dir
    assert "loads in a fresh Python" in repr(again)


def test_check_reports_a_model_that_cannot_load(saved, tmp_path: Path) -> None:
    models, _ = saved
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(models / "sk", broken)
    (broken / "requirements.txt").write_text("this-package-does-not-exist-tb==1.0\n")
    with pytest.raises(tb.models.ModelError, match="pip could not install"):
        tb.models.check(broken, cache_dir=tmp_path / "envs", progress=False, timeout=120)
