"""Parameter values: type checks, normalised text, and the command line they make.

Values are checked against the entry point's declared types before anything runs; every
problem is reported at once. Substituted values are shell-quoted, so a value can never
add shell syntax to the command.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import InvalidNameError
from ..tracking import validation
from .errors import ParameterError

TYPES = ("float", "int", "string", "path", "uri")
# {name} is a placeholder; {{ and }} are literal braces; ${VAR} is left to the shell.
PLACEHOLDER = re.compile(r"\{\{|\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


class BadValue(ValueError):
    """One value does not fit its type (the message completes "alpha ...")."""


def normalise(kind: str, value: Any, *, base: Path | None = None,
              must_exist: bool = True) -> str:
    """The text of ``value`` as a ``kind`` parameter (raise :class:`BadValue`).

    ``base`` resolves relative ``path``/``uri`` values (the caller's working directory
    for values passed in; None leaves them relative, as for defaults in the MLproject).
    """
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        if kind == "string":
            return str(value)
        raise BadValue(f"must be a {_noun(kind)}, got the boolean {value!r}")
    if isinstance(value, list | tuple | dict | set) or value is None:
        raise BadValue(f"must be a single {_noun(kind)}, got {type(value).__name__} {value!r}")
    if kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadValue(f"must be a float, got {value!r}") from None
        return repr(number) if math.isfinite(number) else str(number)
    if kind == "int":
        return str(_int(value))
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if kind == "string":
        return text
    if not text:
        raise BadValue(f"must be a non-empty {_noun(kind)}")
    if kind == "uri":
        if _URI_SCHEME.match(text) or base is None:
            return text
        return str((base / text).absolute())
    if kind == "path":
        if _URI_SCHEME.match(text):
            raise BadValue(f"must be a local path, got the URI {text!r} (declare the "
                           "parameter as type uri to pass URIs)")
        if base is None:
            return text
        path = (base / Path(text).expanduser()).absolute()
        if must_exist and not path.exists():
            raise BadValue(f"is the path {text!r}, but {path} does not exist")
        return str(path)
    raise BadValue(f"has the unknown type {kind!r}; use one of {', '.join(TYPES)}")


def _int(value: Any) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise BadValue(f"must be an int, got {value!r}")
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise BadValue(f"must be an int, got {value!r}") from None
    if number.is_integer():
        return int(number)
    raise BadValue(f"must be an int, got {value!r}")


def _noun(kind: str) -> str:
    return {"float": "float", "int": "int", "string": "string", "path": "path",
            "uri": "URI"}.get(kind, kind)


def check_name(name: Any) -> str:
    """A parameter name: what trackbook accepts as a param key, without spaces."""
    try:
        validation.check_name("param", name)
    except InvalidNameError as exc:
        raise ParameterError(str(exc)) from None
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", name):
        raise ParameterError(f"parameter name {name!r} must start with a letter, digit or _ "
                             "and contain only letters, digits and _ . -")
    return str(name)


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by the shell-quoted value."""
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return shlex.quote(values[match.group(1)])

    return PLACEHOLDER.sub(replace, template)


def placeholders(template: str) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1)]


def as_arguments(values: Mapping[str, str]) -> str:
    """``--key value`` pairs, shell-quoted (how extra parameters reach the command)."""
    return " ".join(f"{shlex.quote('--' + k)} {shlex.quote(v)}" for k, v in values.items())
