"""Text trackbook can store: UTF-8-encodable (no lone surrogates), of bounded length.

Shared by tracking, registry and store (which folds old logs with :func:`storable`), so
importing it costs nothing.
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import InvalidValueError

_SURROGATE_RE = re.compile("[\\ud800-\\udfff]")


def first_surrogate(text: str) -> int | None:
    """Index of the first character UTF-8 cannot encode (a lone surrogate), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return e.start
    return None


def _surrogate_message(what: str, text: str, pos: int) -> str:
    return (f"{what} has the lone surrogate {text[pos]!r} at position {pos} "
            f"({text[max(0, pos - 20):pos + 20]!r}), which is not text and cannot be stored. "
            "It usually comes from undecodable bytes in a file name (os.fsdecode, sys.argv, "
            "os.listdir); decode them explicitly, e.g. "
            "name.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')")


def check_text(what: str, value: str, limit: int | None = None,
               error: type[Exception] = InvalidValueError) -> str:
    """``value`` unchanged if it is storable text of at most ``limit`` characters.

    Parameters
    ----------
    what : str
        What the value is, for the message (e.g. ``"param 'lr' value"``).
    value : str
        The text to check.
    limit : int, optional
        The maximum length in characters.
    error : type, default InvalidValueError
        The exception raised (InvalidNameError for names).

    Raises
    ------
    InvalidValueError
        (or ``error``) if ``value`` is too long or holds a lone surrogate.
    """
    if limit is not None and len(value) > limit:
        raise error(f"{what} is {len(value):,} characters; at most {limit:,} are allowed. "
                    "Log long text as an artifact (log_text or log_dict) instead")
    pos = first_surrogate(value)
    if pos is not None:
        raise error(_surrogate_message(what, value, pos))
    return value


def storable(value: str) -> str:
    """``value`` with every lone surrogate replaced by U+FFFD, for text trackbook itself
    gathers (e.g. ``sys.argv[0]`` in a system tag), which must never be refused."""
    return value if first_surrogate(value) is None else _SURROGATE_RE.sub("\ufffd", value)


def storable_record(obj: Any) -> tuple[Any, bool]:
    """``obj`` (JSON data: dicts, lists, strings, numbers) with :func:`storable` applied to
    every string, keys included; and whether anything changed. Unchanged objects are
    returned as they are, so the common, clean case allocates nothing."""
    t = type(obj)
    if t is str:
        new = storable(obj)
        return new, new is not obj
    if t is dict:
        changed = False
        out = {}
        for k, v in obj.items():
            k2, c1 = storable_record(k)
            v2, c2 = storable_record(v)
            changed = changed or c1 or c2
            out[k2] = v2
        return (out, True) if changed else (obj, False)
    if t is list:
        items = [storable_record(v) for v in obj]
        if any(c for _, c in items):
            return [v for v, _ in items], True
        return obj, False
    return obj, False


def _strings(obj: Any, out: list[str]) -> None:
    """Append every string in ``obj`` (keys included) to ``out``. Numbers, None and lists
    starting with a number (metric summaries, which fill number columns) are skipped with
    one type test each."""
    t = type(obj)
    if t is str:
        out.append(obj)
    elif t is dict:
        out.append("".join(obj))  # JSON keys are strings
        for v in obj.values():
            tv = type(v)
            if tv is str:
                out.append(v)
            elif tv is dict or (tv is list and v and type(v[0]) is not float
                                 and type(v[0]) is not int):
                _strings(v, out)
    elif t is list:
        for v in obj:
            tv = type(v)
            if tv is str:
                out.append(v)
            elif tv is dict or tv is list:
                _strings(v, out)


def is_storable(obj: Any) -> bool:
    """Whether every string in ``obj`` (JSON data) encodes as UTF-8."""
    out: list[str] = []
    _strings(obj, out)
    return first_surrogate("".join(out)) is None
