"""Replacing a framework's methods with logging wrappers, once, and undoing that."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from . import _config, _safety

_lock = threading.Lock()
# (flavor, owner, attribute) -> (the original attribute, whether owner.__dict__ held it)
_originals: dict[tuple[str, Any, str], tuple[Any, bool]] = {}

Wrapper = Callable[..., Any]  # wrapper(original, *args, **kwargs) -> result


def patch(flavor: str, owner: Any, name: str, wrapper: Wrapper, *,
          reentrant: bool = False, inherited: bool = False) -> None:
    """Make ``owner.name(*args)`` call ``wrapper(original, *args, **kwargs)``.

    The wrapper runs only while ``flavor``'s autolog is on and only for the outermost
    patched call of that flavor (nested calls go straight to the original), unless
    ``reentrant``: then it runs inside outer calls too (a scikit-learn wrapper's ``fit``
    calling the framework's patched ``train``). Patching the same attribute twice replaces
    the wrapper, never stacks it. An attribute ``owner``
    inherits is left alone (patching the class that defines it covers this one), unless
    ``inherited``: then it is patched on ``owner`` itself, as MLflow patches each class it
    lists, and unpatching deletes it again.
    """
    key = (flavor, owner, name)
    with _lock:
        entry = _originals.get(key)
        if entry is None:
            own = name in vars(owner)
            if not own and not inherited:
                return
            found = vars(owner)[name] if own else _static_lookup(owner, name)
            if found is None:
                return
            entry = _originals[key] = (_unwrapped(found, flavor), own)
    original = entry[0]
    unbound = original.__func__ if isinstance(original, (classmethod, staticmethod)) else original

    @functools.wraps(unbound)
    def patched(*args: Any, **kwargs: Any) -> Any:
        if _config.get(flavor) is None or (_safety.depth(flavor) and not reentrant):
            with _safety.inside(flavor):
                return unbound(*args, **kwargs)
        with _safety.inside(flavor):
            return wrapper(unbound, *args, **kwargs)

    patched.__trackbook_autolog__ = flavor  # type: ignore[attr-defined]
    patched.__trackbook_original__ = original  # type: ignore[attr-defined]
    replacement: Any = patched
    if isinstance(original, classmethod):
        replacement = classmethod(patched)
    elif isinstance(original, staticmethod):
        replacement = staticmethod(patched)
    setattr(owner, name, replacement)


def _static_lookup(owner: Any, name: str) -> Any:
    for klass in getattr(owner, "__mro__", ())[1:]:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _unwrapped(attr: Any, flavor: str) -> Any:
    """The original behind our own patch (a subclass patched after its base finds the
    base's patched function), so wrappers never stack."""
    fn = attr.__func__ if isinstance(attr, (classmethod, staticmethod)) else attr
    if getattr(fn, "__trackbook_autolog__", None) == flavor:
        return fn.__trackbook_original__
    return attr


def unpatch_all(flavor: str | None = None) -> None:
    """Put back the originals of ``flavor`` (every flavor when None)."""
    with _lock:
        for key in [k for k in _originals if flavor is None or k[0] == flavor]:
            _, owner, name = key
            original, own = _originals.pop(key)
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)


def patched(flavor: str) -> list[tuple[Any, str]]:
    return [(owner, name) for f, owner, name in _originals if f == flavor]
