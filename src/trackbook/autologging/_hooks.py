"""Run a function when a module is imported (now, if it already is): MLflow's post-import
hooks, so ``tb.autolog()`` before ``import xgboost`` still patches xgboost."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_pending: dict[str, list[Callable[[ModuleType], None]]] = {}


def when_imported(module: str, hook: Callable[[ModuleType], None]) -> None:
    """Call ``hook(module)`` once ``module`` is imported: at once if it is loaded already."""
    loaded = sys.modules.get(module)
    if loaded is not None and getattr(getattr(loaded, "__spec__", None), "_initializing",
                                      False) is False:
        hook(loaded)
        return
    with _lock:
        _pending.setdefault(module, []).append(hook)
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            with _lock:
                hooks = _pending.pop(fullname, [])
            for hook in hooks:
                hook(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_FINDER = _Finder()
