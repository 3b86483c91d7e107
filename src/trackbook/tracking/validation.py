"""Checks on names and values, with messages that say what is allowed."""

from __future__ import annotations

import math
import re
from typing import Any

from .._errors import InvalidNameError, InvalidValueError

MAX_NAME_LENGTH = 250
_NAME_RE = re.compile(r"[\w\-. /:]+")
_valid_names: set[str] = set()


def check_name(kind: str, name: Any) -> str:
    """A metric, param or tag key: letters, digits, ``_ - . / : space``; no ``..`` parts."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{kind} name must be a string, got {type(name).__name__}: "
                               f"{name!r}")
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"{kind} name must be 1 to {MAX_NAME_LENGTH} characters, got "
                               f"{len(name)}")
    if name in _valid_names:
        return name
    if not _NAME_RE.fullmatch(name):
        bad = sorted({c for c in name if not re.fullmatch(r"[\w\-. /:]", c)})
        raise InvalidNameError(
            f"{kind} name {name!r} contains {''.join(bad)!r}; allowed are letters, digits, "
            "and _ - . / : and space")
    if name.startswith("/") or ".." in name.split("/"):
        raise InvalidNameError(f"{kind} name {name!r} must not start with '/' or contain '..'")
    if len(_valid_names) < 100_000:
        _valid_names.add(name)
    return name


def check_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidNameError(f"experiment name must be a non-empty string, got {name!r}")
    if any(ord(c) < 32 for c in name) or len(name) > 500:
        raise InvalidNameError(
            f"experiment name {name!r} must be at most 500 characters without control characters")
    return name


def check_run_name(name: Any) -> str:
    if not isinstance(name, str) or not name or any(ord(c) < 32 for c in name):
        raise InvalidNameError(f"run name must be a non-empty string without control "
                               f"characters, got {name!r}")
    return name


def metric_value(key: str, value: Any) -> float:
    """A metric value as float. NaN and +/-inf are kept, as MLflow does."""
    t = type(value)
    if t is float:
        return value  # type: ignore[no-any-return]
    if t is int:
        return float(value)
    if (isinstance(value, bool | str | bytes) or value is None
            or type(value).__name__ == "bool_"):  # numpy bools are flags, not measurements
        raise InvalidValueError(
            f"metric {key!r} needs a number, got {type(value).__name__} {value!r}")
    try:
        f = float(value)  # numpy scalars, Decimal, 0-d tensors
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"metric {key!r} needs a number, got {type(value).__name__} {value!r}") from None
    return f if not math.isnan(f) else math.nan


def param_value(value: Any) -> str:
    """Params are stored as strings, as MLflow does (long values are fine)."""
    return value if isinstance(value, str) else str(value)


def timestamp_value(timestamp: Any) -> int:
    """Milliseconds since the epoch, as an int (numpy ints are fine, floats are not)."""
    if isinstance(timestamp, bool) or type(timestamp).__name__ == "bool_":
        raise InvalidValueError(f"timestamp must be integer milliseconds, got {timestamp!r}")
    if isinstance(timestamp, int) or getattr(getattr(timestamp, "dtype", None), "kind",
                                             "") in ("i", "u"):
        if not 0 <= int(timestamp) < 2**63:
            raise InvalidValueError(f"timestamp must be milliseconds since the epoch, got "
                                    f"{timestamp}")
        return int(timestamp)
    raise InvalidValueError(
        f"timestamp must be integer milliseconds since the epoch, got {timestamp!r}")


def tag_value(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def step_value(step: Any) -> int:
    if step is None:
        return 0
    if isinstance(step, bool) or type(step).__name__ == "bool_":
        raise InvalidValueError(f"step must be an integer, got {step!r}")
    if not isinstance(step, int):
        try:
            if float(step) != int(step):
                raise ValueError
            step = int(step)
        except (TypeError, ValueError, OverflowError):
            raise InvalidValueError(f"step must be an integer, got {step!r}") from None
    if not -(2**63) <= step < 2**63:
        raise InvalidValueError(f"step must fit in a 64-bit integer, got {step}")
    return int(step)
