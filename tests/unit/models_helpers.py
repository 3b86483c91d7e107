"""Helpers for the model tests: notebook cells without a kernel, and small fitted models."""

from __future__ import annotations

import itertools
import linecache
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

_cells = itertools.count(1)


def notebook_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], dict[str, Any]]]:
    """Run code like notebook cells: in a fresh ``__main__`` with no ``__file__``, each cell
    compiled under its own file name whose source lives only in ``linecache`` (what
    IPython does), so source lookup works exactly as in a kernel."""
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    names: list[str] = []

    def run(code: str) -> dict[str, Any]:
        code = textwrap.dedent(code)
        filename = f"/tmp/ipykernel_test/{next(_cells)}.py"
        names.append(filename)
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        exec(compile(code, filename, "exec"), main.__dict__)
        return main.__dict__

    yield run
    for name in names:
        linecache.cache.pop(name, None)


def training_data(n: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.random(n), "b": rng.random(n),
                      "n": rng.integers(0, 10, n).astype("int64")})
    y = pd.Series((X["a"] + X["b"] > 1).astype("int64"), name="y")
    return X, y
