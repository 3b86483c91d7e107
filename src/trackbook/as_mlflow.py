"""Run unchanged MLflow code on trackbook: ``mlflow.*`` imports resolve to ``trackbook.*``.

``trackbook exec train.py`` (or ``python -m trackbook exec``), ``%load_ext trackbook`` in a
notebook, or :func:`install` in code make ``import mlflow``, ``import mlflow.sklearn`` and
``from mlflow.tracking import MlflowClient`` give trackbook's modules — the very same module
objects, so one run never splits between two copies. Only this process is affected; the
real MLflow, if installed, is untouched on disk. A ``mlflow.<name>`` trackbook does not have
raises :class:`UnsupportedMlflowModuleError` saying so, instead of loading the real MLflow
half-way. Limits: code that reached the real MLflow before :func:`install` keeps it (the
function refuses then); ``mlflow`` subprocesses it starts are separate processes.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

from ._errors import TrackbookError, TrackbookWarning

# mlflow module -> trackbook module, where the names differ
_RENAMED = {"mlflow.entities.model_registry": "trackbook.registry.entities"}


class UnsupportedMlflowModuleError(TrackbookError, ImportError):
    """MLflow code imported a ``mlflow.<name>`` module trackbook does not provide."""


class RealMlflowWarning(TrackbookWarning):
    """The real MLflow is imported in a process that logs with trackbook."""


def target_of(name: str) -> str:
    """The trackbook module an ``mlflow...`` module name maps to."""
    return _RENAMED.get(name, "trackbook" + name[len("mlflow"):])


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "mlflow" and not fullname.startswith("mlflow."):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        target = target_of(spec.name)
        try:
            return importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not target.startswith(exc.name):
                raise
            from ._unsupported import module_error

            known = module_error(spec.name[len("mlflow."):])
            if known is not None:
                raise known from None
            raise UnsupportedMlflowModuleError(
                f"{spec.name} is not available: trackbook has no {target} (the README's "
                "'Use it as MLflow' section lists what is supported and what is not)") from None

    def exec_module(self, module: ModuleType) -> None:
        """The trackbook module is already loaded: nothing to run."""


_FINDER = _Finder()


def install() -> None:
    """Map ``mlflow`` and every ``mlflow.*`` import onto trackbook for this process.

    Raises
    ------
    TrackbookError
        When the real MLflow is already imported here: its modules would mix with ours.
    """
    loaded = sys.modules.get("mlflow")
    if loaded is not None and not _is_ours(loaded):
        raise TrackbookError(
            "the real MLflow is already imported in this process, so mlflow.* cannot be mapped "
            "onto trackbook any more: restart the kernel/interpreter and run "
            "`%load_ext trackbook` (or `trackbook exec script.py`) before anything imports mlflow")
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    import trackbook

    sys.modules["mlflow"] = trackbook


def uninstall() -> None:
    """Undo :func:`install`: ``mlflow`` imports find the real MLflow (if any) again."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n in sys.modules if n == "mlflow" or n.startswith("mlflow.")]:
        if _is_ours(sys.modules[name]):
            del sys.modules[name]


def installed() -> bool:
    return _FINDER in sys.meta_path


def _is_ours(module: ModuleType) -> bool:
    return getattr(module, "__name__", "").split(".")[0] == "trackbook"


def warn_if_real_mlflow() -> None:
    """Warn once when the real MLflow is loaded beside trackbook (a leftover ``import
    mlflow.sklearn`` after ``import trackbook as mlflow`` binds ``mlflow`` to it)."""
    global _warned
    module = sys.modules.get("mlflow")
    if _warned or module is None or _is_ours(module):
        return
    _warned = True
    warnings.warn(
        "the real MLflow is imported in this process (an `import mlflow.<module>` loads it even "
        "after `import trackbook as mlflow`): calls through it log to MLflow, not trackbook. "
        "Import `trackbook.<module>` instead, or run the unchanged script with "
        "`trackbook exec script.py` / `%load_ext trackbook`", RealMlflowWarning, stacklevel=3)


_warned = False


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext trackbook``: this kernel's ``mlflow`` imports give trackbook."""
    install()
    print("trackbook: `import mlflow` now gives trackbook in this kernel "
          f"(logging to {_store_text()})")


def unload_ipython_extension(ipython: Any) -> None:
    uninstall()


def _store_text() -> str:
    from .tracking.uri import get_tracking_uri

    return get_tracking_uri()


def run_script(path: str, argv: list[str], *, module: bool = False) -> None:
    """Run a script (or ``-m`` module) as ``__main__`` with ``mlflow`` mapped onto trackbook."""
    import runpy

    install()
    sys.argv = [path, *argv]
    if module:
        runpy.run_module(path, run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(path, run_name="__main__")
