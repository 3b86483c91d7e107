"""Replacing a framework's methods with logging wrappers, once, and undoing that."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from . import _config, _safety

_lock = threading.Lock()
# (flavor, owner, attribute) -> the original attribute as found in owner.__dict__
_originals: dict[tuple[str, Any, str], Any] = {}

Wrapper = Callable[..., Any]  # wrapper(original, *args, **kwargs) -> result


def patch(flavor: str, owner: Any, name: str, wrapper: Wrapper, *,
          reentrant: bool = False) -> None:
    """Make ``owner.name(*args)`` call ``wrapper(original, *args, **kwargs)``.

    The wrapper runs only while ``flavor``'s autolog is on and only for the outermost
    patched call of that flavor (nested calls go straight to the original), unless
    ``reentrant``: then it runs inside outer calls too (a scikit-learn wrapper's ``fit``
    calling the framework's patched ``train``). Patching the same attribute twice replaces
    the wrapper, never stacks it.
    """
    key = (flavor, owner, name)
    with _lock:
        original = _originals.get(key)
        if original is None:
            if name not in vars(owner):
                return  # inherited: patching the class that defines it covers this one
            original = _originals[key] = vars(owner)[name]
    unbound = original.__func__ if isinstance(original, (classmethod, staticmethod)) else original

    @functools.wraps(unbound)
    def patched(*args: Any, **kwargs: Any) -> Any:
        if _config.get(flavor) is None or (_safety.depth(flavor) and not reentrant):
            with _safety.inside(flavor):
                return unbound(*args, **kwargs)
        with _safety.inside(flavor):
            return wrapper(unbound, *args, **kwargs)

    patched.__trackbook_autolog__ = flavor  # type: ignore[attr-defined]
    replacement: Any = patched
    if isinstance(original, classmethod):
        replacement = classmethod(patched)
    elif isinstance(original, staticmethod):
        replacement = staticmethod(patched)
    setattr(owner, name, replacement)


def unpatch_all(flavor: str | None = None) -> None:
    """Put back the originals of ``flavor`` (every flavor when None)."""
    with _lock:
        for key in [k for k in _originals if flavor is None or k[0] == flavor]:
            _, owner, name = key
            setattr(owner, name, _originals.pop(key))


def patched(flavor: str) -> list[tuple[Any, str]]:
    return [(owner, name) for f, owner, name in _originals if f == flavor]
