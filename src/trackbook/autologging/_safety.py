"""Autologging must never break training: our own failures become one warning each."""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from .._errors import TrackbookWarning
from . import _config

log = logging.getLogger("trackbook.autolog")
_local = threading.local()


class AutologWarning(TrackbookWarning):
    """trackbook's autologging could not log something; training went on unaffected."""


def warn(flavor: str, message: str) -> None:
    config = _config.get(flavor)
    if config is not None and config.silent:
        log.debug("%s autolog: %s", flavor, message)
        return
    warnings.warn(f"trackbook {flavor} autolog: {message}", AutologWarning, stacklevel=3)


@contextlib.contextmanager
def guard(flavor: str, what: str) -> Iterator[None]:
    """Run logging code; an exception in it is reported as an :class:`AutologWarning`."""
    try:
        yield
    except Exception as exc:
        warn(flavor, f"could not {what} ({type(exc).__name__}: {exc}); training is unaffected")


def call_safely(flavor: str, what: str, fn: Callable[..., Any], *args: Any,
                **kwargs: Any) -> Any:
    with guard(flavor, what):
        return fn(*args, **kwargs)
    return None


def depth(flavor: str) -> int:
    return getattr(_local, flavor, 0)


@contextlib.contextmanager
def inside(flavor: str) -> Iterator[bool]:
    """Mark a patched call of ``flavor``; yields True for the outermost one only.

    A meta-estimator's ``fit`` calls its estimators' ``fit``: only the outer call logs.
    """
    level = depth(flavor)
    setattr(_local, flavor, level + 1)
    try:
        yield level == 0
    finally:
        setattr(_local, flavor, level)
