"""The DuckDB sandboxes that run users' SQL (``tb.sql``), apart from trackbook's own.

The catalog lives in one DuckDB instance per process that trackbook's own queries share
(``store/catalog.py``, ``store/mirror.py``): a user's ``SET``, ``ATTACH`` or long query
there would change or block every later query. ``tb.sql`` instead copies the catalog
tables out as Arrow (a snapshot taken in one short turn) and runs the user's text in a
database of its own:

- by default a *sandbox*, one per process and store, that may read those Arrow tables and
  the store's metric files and nothing else: external access off except for the store's
  ``runs/`` folder, no extension loading, configuration locked, and only statements that
  read (``SELECT`` and its kin: ``WITH``, ``FROM``, ``DESCRIBE``, ``SUMMARIZE``,
  ``EXPLAIN`` of those, ``PIVOT``). Everything else raises :class:`SqlNotAllowedError`.
- with ``unsafe=True`` a plain DuckDB connection made for that one call: everything
  DuckDB can do, on nothing trackbook itself uses.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .._errors import SqlNotAllowedError

if TYPE_CHECKING:
    import duckdb

    from ..store.layout import Layout

OPT_IN = ("pass unsafe=True to run it with full DuckDB (files, network, extensions, "
          "settings, COPY, ATTACH) on a connection of its own")
# DuckDB 2.0 judges isnan() by Parquet min/max statistics, which leave NaN out: it folds
# the call to false and skips row groups holding NaN.
DISABLED_OPTIMIZERS = "statistics_propagation,filter_pushdown"

_WORD = re.compile(r"[A-Za-z_]+")
_lock = threading.Lock()
_boxes: dict[tuple[int, str], duckdb.DuckDBPyConnection] = {}  # least recently used first
MAX_SANDBOXES = 4
"""Sandboxes kept per process (one per store queried); older ones are dropped."""


def _readable_dir(layout: Layout) -> str:
    return str(layout.runs_dir) + os.sep  # a prefix: without the slash runs_x/ would match


def _sandbox(layout: Layout) -> duckdb.DuckDBPyConnection:
    """This process's sandbox for the store at ``layout`` (made once: ~15-40 ms)."""
    import duckdb

    key = (os.getpid(), str(layout.root))  # not across fork
    with _lock:
        con = _boxes.pop(key, None)
        if con is None:
            con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                         "autoload_known_extensions": False})
            # allowed_directories can only be set once the database runs; the lock last.
            for setting, value in (("allowed_directories", [_readable_dir(layout)]),
                                   ("disabled_optimizers", DISABLED_OPTIMIZERS),
                                   ("python_enable_replacements", False),
                                   ("enable_external_access", False),
                                   ("lock_configuration", True)):
                con.execute(f"SET GLOBAL {setting} = ?", [value])
        _boxes[key] = con
        while len(_boxes) > MAX_SANDBOXES:
            # Not closed: a query may still run on a cursor of it, which keeps it alive.
            _boxes.pop(next(iter(_boxes)))
        return con


@contextlib.contextmanager
def connection(layout: Layout, unsafe: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one ``tb.sql`` call: a cursor on the store's sandbox (its temp
    views vanish with it), or with ``unsafe`` a DuckDB of its own, closed afterwards."""
    import duckdb

    if unsafe:
        con = duckdb.connect()
        con.execute("SET disabled_optimizers = ?", [DISABLED_OPTIMIZERS])
    else:
        con = _sandbox(layout).cursor()
    try:
        yield con
    finally:
        con.close()


def check_read_only(con: duckdb.DuckDBPyConnection, text: str) -> None:
    """Raise :class:`SqlNotAllowedError` unless every statement of ``text`` only reads.

    A whitelist of statement kinds, judged by DuckDB's own parser: what it cannot parse
    is left for the query to report as DuckDB's syntax error.
    """
    import duckdb

    try:
        statements = con.extract_statements(text)
    except duckdb.ParserException:
        return  # executing it raises the same syntax error, with DuckDB's pointer
    for statement in statements:
        _check_statement(con, statement)


def _check_statement(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> None:
    import duckdb

    kind = statement.type
    if kind == duckdb.StatementType.SELECT:
        return
    if kind == duckdb.StatementType.MULTI and _keywords(statement.query) & {"pivot", "unpivot"}:
        return  # a PIVOT without IN (...) plans as several statements of its own making
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _explained(statement.query)
        # EXPLAIN ANALYZE runs what it explains: judge that statement.
        if inner is not None:
            try:
                explained = con.extract_statements(inner)
            except duckdb.ParserException:
                explained = []
            if len(explained) == 1:
                _check_statement(con, explained[0])
                return
    name = str(kind).rpartition(".")[2]
    raise SqlNotAllowedError(
        f"tb.sql refused the {name} statement {_excerpt(statement.query)!r}. By default "
        "tb.sql only reads (SELECT, WITH, DESCRIBE, SUMMARIZE, EXPLAIN, PIVOT) the catalog "
        f"tables, the metrics view and the store's metric files; {OPT_IN}.")


def _word(text: str, pos: int) -> str:
    match = _WORD.match(text, pos)
    return match.group(0).lower() if match else ""


def _keywords(text: str) -> set[str]:
    import duckdb

    return {_word(text, pos) for pos, token in duckdb.tokenize(text)
            if token == duckdb.token_type.keyword}


def _explained(text: str) -> str | None:
    """The statement an ``EXPLAIN [ANALYZE | (options)] statement`` explains."""
    import duckdb

    tokens = [(pos, token) for pos, token in duckdb.tokenize(text)
              if token != duckdb.token_type.comment]
    if not tokens or _word(text, tokens[0][0]) != "explain":
        return None
    depth = 0
    for pos, token in tokens[1:]:
        if token == duckdb.token_type.operator and text[pos] in "()":
            depth += 1 if text[pos] == "(" else -1
        elif depth == 0 and _word(text, pos) not in ("analyze", "analyse"):
            return text[pos:]
    return None


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def refusal(exc: Exception) -> SqlNotAllowedError | None:
    """The :class:`SqlNotAllowedError` for what the sandbox itself refused while running
    a query (reading a file outside the store, changing a locked setting), else None."""
    import duckdb

    text = str(exc)
    if isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in text:
        return SqlNotAllowedError(
            f"tb.sql refused: {text}. By default tb.sql reads only the catalog tables, the "
            f"metrics view and the store's metric files, with settings fixed; {OPT_IN}.")
    return None
