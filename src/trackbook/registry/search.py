"""The small filter grammar of ``search_registered_models`` / ``search_model_versions``.

``<key> <op> <value> [AND ...]`` where key is ``name``, ``run_id``, ``source``,
``version_number``, ``current_stage`` or ``tags.<key>`` (backquote keys with spaces),
op is ``=``, ``!=``, ``LIKE``, ``ILIKE`` or ``IN`` and values are quoted strings (numbers for
``version_number``). Evaluated in Python over the folded files: no SQL involved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .._errors import FilterSyntaxError

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
    | (?P<op>!=|<>|=|\(|\)|,)
    | (?P<word>(?:tags?\.)?`[^`]+`|[\w.]+)
    )""", re.VERBOSE)

MODEL_KEYS = ("name",)
VERSION_KEYS = ("name", "run_id", "source", "source_path", "version_number", "version",
                "current_stage")

Predicate = Callable[[dict[str, Any]], bool]


def _like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    out = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(out, flags | re.DOTALL)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterSyntaxError("unexpected character in filter", text, pos)
        kind = m.lastgroup or ""
        start = m.start(kind)
        out.append((kind, m.group(kind), start))
        pos = m.end()
    return out


def _unquote(s: str) -> str:
    q = s[0]
    return s[1:-1].replace(q + q, q)


def compile_filter(text: str | None, keys: tuple[str, ...]) -> Predicate:
    """A predicate over a row dict (``tags`` holds a dict) for ``text``."""
    if text is not None and not isinstance(text, str):
        raise FilterSyntaxError(f"a filter must be a string, got {type(text).__name__}: "
                                f"{text!r}"[:300])
    if not text or not text.strip():
        return lambda row: True
    toks = _tokens(text)
    preds: list[Predicate] = []
    i = 0

    def need(kind: str, what: str) -> tuple[str, str, int]:
        nonlocal i
        if i >= len(toks):
            raise FilterSyntaxError(f"filter ends early: expected {what}", text, len(text))
        tok = toks[i]
        if tok[0] != kind:
            raise FilterSyntaxError(f"expected {what}, got {tok[1]!r}", text, tok[2])
        i += 1
        return tok

    while True:
        _, key, kpos = need("word", "a key such as name or tags.<key>")
        tag = None
        low = key.lower()
        if low.startswith(("tags.", "tag.")):
            tag = key.split(".", 1)[1].strip("`")
        elif low not in keys:
            raise FilterSyntaxError(f"unknown key {key!r}; allowed are {', '.join(keys)} "
                                    "and tags.<key>", text, kpos)
        if i < len(toks) and toks[i][0] == "word" and toks[i][1].upper() in ("LIKE", "ILIKE",
                                                                             "IN"):
            op = toks[i][1].upper()
            i += 1
        else:
            op = need("op", "=, !=, LIKE, ILIKE or IN")[1]
            if op not in ("=", "!=", "<>"):
                raise FilterSyntaxError(f"expected a comparison, got {op!r}", text, toks[i - 1][2])
        if op == "IN":
            need("op", "(")
            values = []
            while True:
                values.append(_value(need_value(toks, i, text)))
                i += 1
                sep = need("op", "',' or ')'")[1]
                if sep == ")":
                    break
            preds.append(_pred(low, tag, op, values))
        else:
            tok = need_value(toks, i, text)
            i += 1
            preds.append(_pred(low, tag, op, _value(tok)))
        if i >= len(toks):
            break
        tok = toks[i]
        if tok[0] != "word" or tok[1].upper() != "AND":
            raise FilterSyntaxError("expected AND between conditions (OR is not supported)",
                                    text, tok[2])
        i += 1
    return lambda row: all(p(row) for p in preds)


def need_value(toks: list[tuple[str, str, int]], i: int, text: str) -> tuple[str, str, int]:
    if i >= len(toks):
        raise FilterSyntaxError("filter ends early: expected a quoted value", text, len(text))
    tok = toks[i]
    if tok[0] == "str" or (tok[0] == "word" and tok[1].isdigit()):
        return tok
    raise FilterSyntaxError(f"expected a quoted value, got {tok[1]!r}", text, tok[2])


def _value(tok: tuple[str, str, int]) -> str:
    return _unquote(tok[1]) if tok[0] == "str" else tok[1]


def _pred(key: str, tag: str | None, op: str, value: Any) -> Predicate:
    key = {"source_path": "source", "version_number": "version"}.get(key, key)

    def get(row: dict[str, Any]) -> str | None:
        v = row.get("tags", {}).get(tag) if tag is not None else row.get(key)
        return None if v is None else str(v)

    if op == "IN":
        allowed = set(value)
        return lambda row: get(row) in allowed
    if op in ("LIKE", "ILIKE"):
        rx = _like(value, re.IGNORECASE if op == "ILIKE" else 0)
        return lambda row: (x := get(row)) is not None and rx.fullmatch(x) is not None
    if op == "=":
        return lambda row: get(row) == value
    return lambda row: (x := get(row)) is not None and x != value
