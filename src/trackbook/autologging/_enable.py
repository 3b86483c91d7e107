"""Turning one framework's autologging on: settings, version check, patch on import."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import _config, _hooks, _safety


def enable(flavor: str, framework: str, install: Callable[[ModuleType], None],
           settings: dict[str, Any], *, supported: tuple[str, str] | None = None) -> None:
    """Store ``flavor``'s ``settings`` and run ``install(framework module)`` once it is imported.

    ``supported`` is the inclusive version range tested here; outside it autolog warns, or
    stays off when ``disable_for_unsupported_versions`` is set (MLflow's behaviour).
    """
    config = _config.configure(flavor, settings)
    if config.disable:
        return

    def on_import(module: ModuleType) -> None:
        version = str(getattr(module, "__version__", "0"))
        if supported is not None and not _in_range(version, supported):
            if config.disable_for_unsupported_versions:
                _config.configure(flavor, {**settings, "disable": True})
                return
            _safety.warn(flavor, f"{framework} {version} is outside the versions autologging "
                                 f"is tested with ({supported[0]} to {supported[1]}); "
                                 "it may log less")
        _safety.call_safely(flavor, f"patch {framework}", install, module)

    _hooks.when_imported(framework, on_import)


def _in_range(version: str, bounds: tuple[str, str]) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        v = Version(version).release
        return Version(bounds[0]).release <= v <= (*Version(bounds[1]).release, 999)
    except InvalidVersion:
        return False
