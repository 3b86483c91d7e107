"""``log_model(registered_model_name=...)`` registers even when the registry package was
imported before the models' saving code (``tb.Client()`` first, a common notebook order)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

CODE = """
import sys
import numpy as np
import trackbook as tb
from sklearn.linear_model import LogisticRegression

tb.set_tracking_uri(sys.argv[1])
c = tb.Client()  # imports trackbook.registry before trackbook.models._save
assert "trackbook.registry" in sys.modules and "trackbook.models._save" not in sys.modules
model = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
with tb.start_run():
    tb.sklearn.log_model(model, name="model", registered_model_name="churn")
print([mv.version for mv in c.search_model_versions("name = 'churn'")])
"""


def test_log_model_registers_after_client_imported_the_registry(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "store")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[1]"]
