"""Packages whose public names load on first use (PEP 562), so ``import trackbook`` and
the CLI stay light while ``tb.sklearn``, ``tb.projects.sweep`` etc. are one attribute away.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Export = str | tuple[str, str]


def lazy_exports(package: str, exports: Mapping[str, Export], names: Sequence[str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``.

    ``exports`` maps a public name to the module that defines it under the same name
    (absolute, or relative to ``package`` like ``"._registry"``), or to ``(module,
    attribute)``; an empty attribute means the module itself. A loaded name is stored in
    the package's namespace, so later lookups never reach ``__getattr__`` again (hot
    loops call ``tb.log_metric``).
    """

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, attribute = (target, name) if isinstance(target, str) else target
        module = importlib.import_module(module_name, package)
        value = getattr(module, attribute) if attribute else module
        vars(sys.modules[package])[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
