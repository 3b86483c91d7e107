"""Checks on names and values, with messages that say what is allowed."""

from __future__ import annotations

import math
import re
from typing import Any

from .._errors import InvalidNameError, InvalidValueError
from .._text import check_text, storable

# Names follow MLflow 3.17 (mlflow/utils/validation.py). Values do not: MLflow truncates
# params past 6,000 and tags past 8,000 characters (with a warning) and refuses experiment
# tags past 20,000; trackbook keeps values verbatim (a JSON config as a param round-trips)
# up to one limit, and refuses longer ones at the call, so nothing is silently cut.
MAX_NAME_LENGTH = 250  # MAX_ENTITY_KEY_LENGTH
MAX_EXPERIMENT_NAME_LENGTH = 500  # MAX_EXPERIMENT_NAME_LENGTH
MAX_VALUE_LENGTH = 1_000_000  # params, tags, experiment tags and run names
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NAME_RE = re.compile(r"[\w\-. /:]+")
_valid_names: set[str] = set()

__all__ = ["check_text", "storable"]  # re-exported: callers import both from here


def _is_bool(value: Any) -> bool:
    """Python and numpy booleans (numpy 2 names its type ``bool``, numpy 1 ``bool_``)."""
    t = type(value)
    return t is bool or (t.__name__ in ("bool", "bool_") and t.__module__ == "numpy")


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
    """An experiment name: 1-500 characters of text, no control characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidNameError(f"experiment name must be a non-empty string, got {name!r}")
    if any(ord(c) < 32 for c in name) or len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidNameError(
            f"experiment name {name[:100]!r} ({len(name)} characters) must be at most "
            f"{MAX_EXPERIMENT_NAME_LENGTH} characters without control characters")
    return check_text("experiment name", name, error=InvalidNameError)


def check_run_name(name: Any) -> str:
    """A run name: 1 to 1,000,000 characters of text, no control characters."""
    if not isinstance(name, str) or not name or any(ord(c) < 32 for c in name):
        raise InvalidNameError(f"run name must be a non-empty string without control "
                               f"characters, got {name!r}")
    return check_text("run name", name, MAX_VALUE_LENGTH, InvalidNameError)


def metric_value(key: str, value: Any) -> float:
    """A metric value as float. NaN and +/-inf are kept, as MLflow does; booleans are
    refused (MLflow stores True as 1.0: a flag is better a tag or param)."""
    t = type(value)
    if t is float:
        return value  # type: ignore[no-any-return]
    if t is int:
        try:
            return float(value)
        except OverflowError:
            raise InvalidValueError(f"metric {key!r} value {value} does not fit in a 64-bit "
                                    "float") from None
    if isinstance(value, str | bytes) or value is None or _is_bool(value):
        raise InvalidValueError(
            f"metric {key!r} needs a number, got {type(value).__name__} {value!r}")
    try:
        f = float(value)  # numpy scalars, Decimal, 0-d tensors
    except (TypeError, ValueError, OverflowError):
        raise InvalidValueError(
            f"metric {key!r} needs a number, got {type(value).__name__} {value!r}") from None
    return f if not math.isnan(f) else math.nan


def param_value(value: Any, key: str = "") -> str:
    """Params are stored as strings, as MLflow does, up to 1,000,000 characters."""
    text = value if isinstance(value, str) else str(value)
    return check_text(f"param {key!r} value", text, MAX_VALUE_LENGTH)


def timestamp_value(timestamp: Any) -> int:
    """Milliseconds since the epoch, as an int (numpy ints are fine, floats are not)."""
    if _is_bool(timestamp):
        raise InvalidValueError(f"timestamp must be integer milliseconds, got {timestamp!r}")
    if isinstance(timestamp, int) or getattr(getattr(timestamp, "dtype", None), "kind",
                                             "") in ("i", "u"):
        if not 0 <= int(timestamp) <= INT64_MAX:
            raise InvalidValueError(f"timestamp must be milliseconds since the epoch, 0 to "
                                    f"2**63-1, got {timestamp}")
        return int(timestamp)
    raise InvalidValueError(
        f"timestamp must be integer milliseconds since the epoch, got {timestamp!r}")


def tag_value(value: Any, key: str = "") -> str:
    """Tags are stored as strings, as MLflow does, up to 1,000,000 characters."""
    text = value if isinstance(value, str) else str(value)
    return check_text(f"tag {key!r} value", text, MAX_VALUE_LENGTH)


def experiment_tag_value(value: Any, key: str = "") -> str:
    """Experiment tags are strings of up to 1,000,000 characters."""
    text = value if isinstance(value, str) else str(value)
    return check_text(f"experiment tag {key!r} value", text, MAX_VALUE_LENGTH)


def step_value(step: Any) -> int:
    """A step as a 64-bit int (None is 0); integral floats are fine, booleans are not."""
    if step is None:
        return 0
    if _is_bool(step):
        raise InvalidValueError(f"step must be an integer, got {step!r}")
    if not isinstance(step, int):
        try:
            if float(step) != int(step):
                raise ValueError
            step = int(step)
        except (TypeError, ValueError, OverflowError):
            raise InvalidValueError(f"step must be an integer, got {step!r}") from None
    if not INT64_MIN <= step <= INT64_MAX:
        raise InvalidValueError(f"step must fit in a 64-bit integer (-2**63 to 2**63-1), "
                                f"got {step}")
    return int(step)
