"""Framework callbacks that must never break training: each hook's first failure warns once,
and that hook stops logging for the rest of the fit (one warning, not one per epoch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _safety


class HookGuard:
    """Runs the logging part of a framework callback's hooks for one training call."""

    def __init__(self, flavor: str) -> None:
        self.flavor = flavor
        self.broken: set[str] = set()

    def run(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``; an exception in it becomes one :class:`AutologWarning`."""
        if what in self.broken:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.broken.add(what)
            _safety.warn(self.flavor, f"could not {what} ({type(exc).__name__}: {exc}); "
                                      "training is unaffected")
            return None
