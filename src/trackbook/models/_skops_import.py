"""Importing ``skops.io`` without importing torch.

``skops.io`` builds its trusted-type list at import with scikit-learn's ``all_estimators()``,
whose ``pkgutil.walk_packages`` imports every package under ``sklearn``, among them
``sklearn.externals.array_api_compat.torch``, which imports torch when it is installed:
2 s warm, ~10 s cold, for no estimator (measured with skops 0.16, scikit-learn 1.9). While
skops loads, that one package is reported missing (``walk_packages`` skips packages that
raise ImportError); scikit-learn imports it normally later if torch arrays ever reach it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

_TORCH_COMPAT = "sklearn.externals.array_api_compat.torch"


class _SkipTorchCompat(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == _TORCH_COMPAT:
            raise ImportError(f"{_TORCH_COMPAT} is skipped while skops.io loads", name=fullname)
        return None


def skops_io() -> ModuleType:
    """The ``skops.io`` module (ImportError if skops is not installed)."""
    if "skops.io" in sys.modules or "torch" in sys.modules:
        import skops.io

        return skops.io
    finder = _SkipTorchCompat()
    sys.meta_path.insert(0, finder)
    try:
        import skops.io
    finally:
        sys.meta_path.remove(finder)
    return skops.io
