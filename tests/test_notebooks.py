"""The example notebooks are fit for nbval: executed, clean, and isolated.

nbval itself (``make test`` passes ``--nbval ... notebooks``) re-runs every notebook and
compares its outputs with the stored ones; these checks make sure there is something
meaningful to compare, and that the sanitizer only hides what varies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SANITIZE = ROOT / "notebooks" / "nbval-sanitize.cfg"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _sanitizers() -> list[tuple[re.Pattern[str], str]]:
    pairs: list[tuple[re.Pattern[str], str]] = []
    pending: str | None = None
    for line in SANITIZE.read_text(encoding="utf-8").splitlines():
        if line.startswith("regex:"):
            assert pending is None, f"regex without replace before {line!r}"
            pending = line[len("regex:"):].strip()
        elif line.startswith("replace:"):
            assert pending is not None, f"replace without regex: {line!r}"
            pairs.append((re.compile(pending), line[len("replace:"):].strip()))
            pending = None
    assert pending is None, "the last regex has no replace line"
    return pairs


def _sanitize(text: str) -> str:
    for regex, replacement in _sanitizers():
        text = regex.sub(replacement, text)
    return text


def test_there_are_example_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ has no .ipynb: nbval would have nothing to check"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_and_clean(path: Path) -> None:
    nb = _load(path)
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        "stored outputs must come from one top-to-bottom run: "
        "jupyter nbconvert --to notebook --execute --inplace " + path.name)
    for cell in code:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", _source(cell)
            if out["output_type"] == "stream":
                assert out["name"] == "stdout", f"stderr output in cell:\n{_source(cell)}"
    compared = [c for c in code if "NBVAL_IGNORE_OUTPUT" not in _source(c) and c["outputs"]]
    assert len(compared) >= len(code) // 2, "most cells must have outputs nbval compares"
    assert "NBVAL_SKIP" not in json.dumps(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_logs_to_its_own_store(path: Path) -> None:
    """nbval runs must never share a store with each other or with the user's runs."""
    sources = "\n".join(_source(c) for c in _load(path)["cells"] if c["cell_type"] == "code")
    if "import trackbook" in sources:
        assert "tb.set_tracking_uri(" in sources
        assert "tempfile.mkdtemp(" in sources


def test_sanitizer_hides_only_what_varies() -> None:
    assert _sanitize("run 0123456789abcdef0123456789abcdef ended") == "run RUN_ID ended"
    assert _sanitize("<w.Table object at 0x7f3a2b1c>") == "<w.Table object at 0xADDRESS>"
    assert _sanitize("store: file:///tmp/trackbook-quickstart-ab12/x") == "store: TMP_PATH"
    assert _sanitize("experiment id: 93851433176796") == "experiment id: EXPERIMENT_ID"
    kept = "best run: logreg-alpha-0.001 (sgd_logreg)\nval_auc = 0.9941, step  20"
    assert _sanitize(kept) == kept
