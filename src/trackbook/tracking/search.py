"""Compile MLflow-style ``search_runs`` filter and order_by strings to DuckDB SQL.

The output is used as ``SELECT ... FROM runs r WHERE r.experiment_id IN (...) AND
(<filter sql>) ORDER BY <order sql> LIMIT ? OFFSET ?`` with filter params before
order params. No user text reaches the SQL string: keys and values are ``?``
parameters and column names come from :data:`ATTRIBUTES`.

Grammar (keywords case-insensitive; NOT binds tighter than AND, AND than OR)::

    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" or_expr ")" | comparison
    comparison := entity op value | entity ["NOT"] "IN" "(" value ("," value)* ")"
                | entity "IS" ["NOT"] "NULL"
    entity     := ("metrics" | "params" | "tags" | "attributes" | "datasets") "." key
                | attribute
    op         := = | == | != | <> | < | <= | > | >= | [NOT] LIKE | [NOT] ILIKE
    value      := 'string' | "string" | number      (nan, inf and -inf are numbers)
    order_item := entity ["ASC" | "DESC"]

``metric.``, ``param.``, ``tag.``, ``attribute.`` and ``run.`` are prefixes too. A
key is bare (everything after the first dot up to whitespace, an operator char, a
paren, a comma or a quote: ``metrics.val/auc``, ``params.model.depth``) or quoted
with backquotes or double quotes. Inside quotes, a doubled quote or a backslash
escapes the quote character and ``\\\\`` is a backslash; other backslashes stay.

Semantics: metrics compare the latest value and need numbers (no LIKE). Params
and tags compare as strings, a number as the text written (``params.depth = 8``
matches ``'8'``), except ``<``/``<=``/``>``/``>=`` with a number, which compare
``TRY_CAST(value AS DOUBLE)``. Every comparison except ``IS NULL`` needs the key
or attribute to be present: a run without ``params.x`` matches neither
``params.x = 'a'`` nor ``params.x != 'a'``, but does match ``NOT params.x = 'a'``.
``start_time`` and ``end_time`` (ms since the epoch) need numbers.

``datasets.name``, ``datasets.digest`` and ``datasets.context`` (also ``dataset.``; the
context is the ``mlflow.data.context`` input tag) match a run when one of its dataset
inputs matches: ``datasets.name != 'x'`` matches a run with some other dataset. As in
MLflow they take quoted strings and only =, !=, LIKE, ILIKE, IN and NOT IN.

Limits: at most :data:`MAX_FILTER_COMPARISONS` (50) comparisons and
:data:`MAX_FILTER_DEPTH` (100) levels of parentheses and NOTs; past them, and for any
other input that is not a filter (not a string, a lone surrogate), FilterSyntaxError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from trackbook._errors import FilterSyntaxError

__all__ = ["ATTRIBUTES", "MAX_FILTER_COMPARISONS", "MAX_FILTER_DEPTH", "check_filter_text",
           "compile_filter", "compile_order_by"]

#: Run attributes usable in filters and order_by, mapped to "compares numerically".
ATTRIBUTES: dict[str, bool] = {
    "run_id": False, "run_name": False, "status": False, "start_time": True, "end_time": True,
    "experiment_id": False, "user_id": False, "artifact_uri": False, "lifecycle_stage": False,
    "parent_run_id": False,
}  # fmt: skip

_PREFIXES = {
    "metrics": "metric", "metric": "metric",
    "params": "param", "param": "param",
    "tags": "tag", "tag": "tag",
    "attributes": "attr", "attribute": "attr", "run": "attr",
    "datasets": "dataset", "dataset": "dataset",
}  # fmt: skip
#: ``datasets.<key>`` (runs only): the key -> its column of ``run_inputs``; MLflow's
#: comparators for them, and string values only.
DATASET_KEYS = {"name": "name", "digest": "digest", "context": "context"}
_DATASET_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_TABLES = {"metric": ("latest_metrics", "m"), "param": ("params", "p"), "tag": ("tags", "t")}


@dataclass(frozen=True)
class Target:
    """What a filter searches: its attributes (-> "compares numerically"), the tables of
    its metrics/params/tags (-> (table, alias)) and the id column joining them."""

    attributes: dict[str, bool]
    tables: dict[str, tuple[str, str]]
    id_column: str
    #: attribute -> {value as written -> value stored}: e.g. a logged model's status
    #: compared to MLflow's protobuf number (``status = 2``) matches 'READY'
    synonyms: dict[str, dict[str, str]] = field(default_factory=dict)
    #: other names of attributes (e.g. ``creation_time`` for ``creation_timestamp``)
    aliases: dict[str, str] = field(default_factory=dict)


RUNS = Target(ATTRIBUTES, _TABLES, "run_id")
_CMP_OPS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ORDERED = {"<", "<=", ">", ">="}
_KEYWORDS = {"AND", "OR", "NOT", "LIKE", "ILIKE", "IN", "IS", "NULL", "ASC", "DESC"}
_OP_NAMES = (
    "=, !=, <, <=, >, >=, LIKE, ILIKE, NOT LIKE, NOT ILIKE, IN, NOT IN, IS NULL, IS NOT NULL"
)
_EXAMPLE = "a comparison such as metrics.acc > 0.9 or params.model = 'rf'"

_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_KEY_RE = re.compile(r"[^\s=!<>(),'\"`]+")
_OP_RE = re.compile(r"==|!=|<>|<=|>=|=|<|>")
_NUMBER_RE = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-](?:infinity|inf|nan)(?![A-Za-z0-9_]))",
    re.IGNORECASE,
)
_INT_RE = re.compile(r"[+-]?\d+")

#: Deepest nesting of parentheses and NOTs a filter may have (Python's recursion and
#: DuckDB's expression depth, 1,000, are the real bounds; no real filter comes near).
MAX_FILTER_DEPTH = 100
#: Most comparisons in one filter. Each is a correlated subquery whose planning cost grows
#: faster than linearly: 50 take ~0.5 s, 100 take 3-6 s, 300 over 100 s (and ~1,000 hit
#: DuckDB's expression depth limit). IN (...) takes thousands of values in one comparison.
MAX_FILTER_COMPARISONS = 50


def check_filter_text(text: object, what: str = "filter") -> str:
    """``text`` if it is a string of characters DuckDB can take, else FilterSyntaxError.

    Shared by the run, experiment and registry filters and order_by items.
    """
    if not isinstance(text, str):
        raise FilterSyntaxError(f"a {what} must be a string, got {type(text).__name__}: "
                                f"{text!r}"[:300])
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise FilterSyntaxError(
                f"the {what} holds the lone surrogate {text[e.start]!r} at position {e.start}, "
                "which no stored name or value can contain (trackbook refuses them); decode "
                "the bytes it came from with errors='replace'", text, e.start) from None
    return text


@dataclass(frozen=True, slots=True)
class _Tok:
    """One token: ``kind`` is WORD, ENTITY, STRING, NUMBER, OP, LPAREN, RPAREN, COMMA,
    OTHER or EOF; ``text`` is the source text; ``value`` the decoded value."""

    kind: str
    text: str
    pos: int
    value: object = None


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Decode the quoted string or key starting at ``text[start]``; return (value, end)."""
    quote, out, i, n = text[start], [], start + 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
        elif c == quote and i + 1 < n and text[i + 1] == quote:
            out.append(quote)
            i += 2
        elif c == quote:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise FilterSyntaxError(
        f"unterminated quote: expected a closing {quote} to match the one at position "
        f"{start}, found end of input",
        text,
        start,
    )


def _tokenize(text: str) -> list[_Tok]:
    """Split ``text`` into tokens; the last one is always EOF."""
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            toks.append(_Tok("EOF", "", n))
            return toks
        c, start = text[i], i
        if c in "(),":
            kind = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}[c]
            toks.append(_Tok(kind, c, i))
            i += 1
        elif c in "'\"":
            value, i = _read_quoted(text, i)
            toks.append(_Tok("STRING", text[start:i], start, value))
        elif m := _OP_RE.match(text, i):
            toks.append(_Tok("OP", m.group(), i))
            i = m.end()
        elif c in "0123456789.+-" and (m := _NUMBER_RE.match(text, i)):
            toks.append(_Tok("NUMBER", m.group(), i, float(m.group())))
            i = m.end()
        elif m := _WORD_RE.match(text, i):
            i = m.end()
            if i < n and text[i] == ".":
                i += 1
                if i < n and text[i] in '`"':
                    key, i = _read_quoted(text, i)
                elif km := _BARE_KEY_RE.match(text, i):
                    key, i = km.group(), km.end()
                else:
                    found = repr(text[i]) if i < n else "end of input"
                    raise FilterSyntaxError(
                        f"expected a key after {text[start:i]!r}, found {found}", text, i
                    )
                toks.append(_Tok("ENTITY", text[start:i], start, (m.group(), key)))
            else:
                toks.append(_Tok("WORD", m.group(), start))
        else:
            toks.append(_Tok("OTHER", c, i))
            i += 1


def _found(tok: _Tok) -> str:
    if tok.kind == "EOF":
        return "end of input"
    if tok.kind == "STRING":
        return f"string {tok.text}"
    return repr(tok.text)


def _check_alias(run_alias: str) -> str:
    if not _WORD_RE.fullmatch(run_alias) or run_alias.lower() in ("m", "p", "t", "di"):
        raise ValueError(
            f"run_alias must be an SQL identifier other than m, p, t, di; got {run_alias!r}"
        )
    return run_alias


def _subquery(kind: str, alias: str, select_value: bool, target: Target = RUNS) -> str:
    """Open ``(SELECT ... WHERE same run AND key = ?`` on the table of a metric/param/tag."""
    table, t = target.tables[kind]
    select = f"{t}.value" if select_value else "1"
    i = target.id_column
    where = f"{t}.{i} = {alias}.{i} AND {t}.key = ?"
    return f"(SELECT {select} FROM {table} {t} WHERE {where}"  # noqa: S608 - whitelisted only


class _Parser:
    """Recursive-descent parser that emits SQL text and collects ``?`` params in order."""

    def __init__(self, text: str, alias: str, target: Target = RUNS) -> None:
        self.text, self.alias, self.target = text, alias, target
        self.toks = _tokenize(text)
        self.i = 0
        self.params: list[object] = []
        self.depth = 0
        self.comparisons = 0

    # -- token helpers ---------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        if tok.kind != "EOF":
            self.i += 1
        return tok

    @staticmethod
    def is_kw(tok: _Tok, *words: str) -> bool:
        return tok.kind == "WORD" and tok.text.upper() in words

    def fail(self, message: str, tok: _Tok) -> FilterSyntaxError:
        return FilterSyntaxError(message, self.text, tok.pos)

    def expected(self, what: str, tok: _Tok) -> FilterSyntaxError:
        return self.fail(f"expected {what}, found {_found(tok)}", tok)

    # -- boolean structure -----------------------------------------------------------
    def parse_filter(self) -> str:
        sql = self.or_expr()
        tok = self.peek()
        if tok.kind == "RPAREN":
            raise self.fail("found ')' with no matching '('; expected AND, OR or end of input", tok)
        if tok.kind != "EOF":
            raise self.expected("AND, OR or end of input", tok)
        return sql

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while self.is_kw(self.peek(), "OR"):
            self.next()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.not_expr()]
        while self.is_kw(self.peek(), "AND"):
            self.next()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def not_expr(self) -> str:
        tok = self.peek()
        if self.is_kw(tok, "NOT") or tok.kind == "LPAREN":
            self.depth += 1
            if self.depth > MAX_FILTER_DEPTH:
                raise self.fail(f"the filter nests parentheses and NOTs more than "
                                f"{MAX_FILTER_DEPTH} levels deep; simplify it", tok)
            try:
                return self.nested(tok)
            finally:
                self.depth -= 1
        return self.comparison()

    def nested(self, tok: _Tok) -> str:
        self.next()
        if tok.kind != "LPAREN":
            return f"(NOT {self.not_expr()})"
        inner = self.or_expr()
        close = self.next()
        if close.kind != "RPAREN":
            raise self.expected(f"AND, OR or ')' to close the '(' at position {tok.pos}", close)
        return inner

    # -- comparisons -----------------------------------------------------------------
    def entity(self, tok: _Tok, what: str) -> tuple[str, str]:
        """Resolve an entity token to (kind, key-or-attribute); ``what`` names the expectation."""
        if tok.kind == "ENTITY":
            prefix, key = tok.value  # type: ignore[misc]
            kind = _PREFIXES.get(prefix.lower())
            if kind is None:
                raise self.fail(
                    f"unknown entity prefix {prefix + '.'!r}: expected metrics., params., tags., "
                    "attributes. or datasets. (or metric., param., tag., attribute., run., "
                    "dataset.)",
                    tok,
                )
            if kind == "dataset":
                return kind, self.dataset_key(key, tok)
            return (kind, key) if kind != "attr" else ("attr", self.attribute(key, tok))
        if tok.kind == "WORD" and tok.text.upper() not in _KEYWORDS:
            return "attr", self.attribute(tok.text, tok)
        idx = self.toks.index(tok)
        context = f" after {self.toks[idx - 1].text!r}" if idx > 0 else ""
        raise self.expected(f"{what}{context}", tok)

    def dataset_key(self, key: str, tok: _Tok) -> str:
        if self.target is not RUNS:
            raise self.fail(f"{tok.text!r}: datasets. filters apply to runs only", tok)
        if key not in DATASET_KEYS:
            raise self.fail(f"unknown dataset key {key!r}: expected one of "
                            f"{', '.join(DATASET_KEYS)}", tok)
        return key

    def dataset(self, key: str, op: str, op_tok: _Tok, values: list[_Tok], subject: str
                ) -> str:
        """A run matches when one of its dataset inputs does (MLflow's rule)."""
        if op not in _DATASET_OPS:
            raise self.fail(f"{op} cannot be used on {subject!r}: expected one of "
                            f"{', '.join(_DATASET_OPS)}", op_tok)
        for v in values:
            if v.kind != "STRING":
                raise self.fail(f"{subject!r} compares to quoted strings: found {_found(v)}",
                                v)
        column = f"di.{DATASET_KEYS[key]}"
        marks = f"({', '.join('?' * len(values))})" if "IN" in op.split() else "?"
        self.params.extend(v.value for v in values)
        return (f"EXISTS (SELECT 1 FROM run_inputs di WHERE di.run_id = {self.alias}.run_id "  # noqa: S608
                f"AND {column} {op} {marks})")

    def attribute(self, name: str, tok: _Tok) -> str:
        attributes = self.target.attributes
        name = self.target.aliases.get(name.lower(), name)
        if name.lower() in attributes:
            return name.lower()
        raise self.fail(f"unknown attribute {name!r}: expected one of {', '.join(attributes)}",
                        tok)

    def operator(self, subject: str) -> tuple[str, _Tok]:
        tok = self.next()
        if tok.kind == "OP":
            return _CMP_OPS[tok.text], tok
        word = tok.text.upper() if tok.kind == "WORD" else ""
        if word in ("LIKE", "ILIKE", "IN"):
            return word, tok
        if word == "NOT":
            nxt = self.next()
            if self.is_kw(nxt, "LIKE", "ILIKE", "IN"):
                return f"NOT {nxt.text.upper()}", tok
            raise self.expected("LIKE, ILIKE or IN after NOT", nxt)
        if word == "IS":
            negated = self.is_kw(self.peek(), "NOT")
            if negated:
                self.next()
            nxt = self.next()
            if not self.is_kw(nxt, "NULL"):
                raise self.expected(f"NULL after {'IS NOT' if negated else 'IS'}", nxt)
            return ("IS NOT NULL" if negated else "IS NULL"), tok
        raise self.expected(f"a comparison operator ({_OP_NAMES}) after {subject}", tok)

    def value(self, after: str) -> _Tok:
        tok = self.next()
        if tok.kind in ("STRING", "NUMBER"):
            return tok
        if tok.kind == "WORD" and tok.text.lower() in ("nan", "inf", "infinity"):
            return _Tok("NUMBER", tok.text, tok.pos, float(tok.text))
        raise self.expected(f"a value (a quoted string or a number) after {after}", tok)

    def value_list(self, after: str) -> list[_Tok]:
        tok = self.next()
        if tok.kind != "LPAREN":
            raise self.expected(f"'(' starting the value list after {after}", tok)
        if self.peek().kind == "RPAREN":
            message = f"empty IN list: expected at least one value after {after} ("
            raise self.fail(message, self.peek())
        values = [self.value("'('")]
        while self.peek().kind == "COMMA":
            self.next()
            values.append(self.value("','"))
        close = self.next()
        if close.kind != "RPAREN":
            raise self.expected("',' or ')' in the value list", close)
        return values

    def comparison(self) -> str:
        tok = self.next()
        self.comparisons += 1
        if self.comparisons > MAX_FILTER_COMPARISONS:
            raise self.fail(f"the filter has more than {MAX_FILTER_COMPARISONS} comparisons; "
                            "use IN (...) for many values of one key, or split the search",
                            tok)
        kind, name = self.entity(tok, _EXAMPLE)
        subject = repr(tok.text)
        op, op_tok = self.operator(subject)
        after = f"{tok.text} {op}"
        if op in ("IS NULL", "IS NOT NULL"):
            values: list[_Tok] = []
        elif op in ("IN", "NOT IN"):
            values = self.value_list(repr(after))
        else:
            values = [self.value(repr(after))]
        return self.build(kind, name, op, op_tok, values, tok.text)

    def build(
        self, kind: str, name: str, op: str, op_tok: _Tok, values: list[_Tok], subject: str
    ) -> str:
        """Emit SQL for one comparison; ``kind``/``name``/``op`` are whitelisted strings."""
        a = self.alias
        if kind == "dataset":
            return self.dataset(name, op, op_tok, values, subject)
        if kind == "attr" and op in ("IS NULL", "IS NOT NULL"):
            return f"({a}.{name} {op})"
        exists = ("" if kind == "attr"
                  else f"EXISTS {_subquery(kind, a, select_value=False, target=self.target)}")
        if op in ("IS NULL", "IS NOT NULL"):
            self.params.append(name)
            return f"{exists})" if op == "IS NOT NULL" else f"(NOT {exists}))"
        t = self.target.tables[kind][1] if kind != "attr" else ""
        numeric = kind == "metric" or (kind == "attr" and self.target.attributes[name])
        if numeric:
            if "LIKE" in op:
                raise self.fail(
                    f"{op} cannot be used on {subject!r}, which compares to numbers: expected "
                    "one of =, !=, <, <=, >, >=, IN, NOT IN, IS NULL, IS NOT NULL",
                    op_tok,
                )
            for v in values:
                if v.kind != "NUMBER":
                    raise self.fail(
                        f"{subject!r} compares to numbers: expected a number, found {_found(v)}",
                        v,
                    )
            args: list[object] = [
                int(v.text) if kind == "attr" and _INT_RE.fullmatch(v.text)
                and len(v.text) < 20 and -(2**63) <= int(v.text) < 2**63 else v.value
                for v in values
            ]
            column = f"{a}.{name}" if kind == "attr" else "m.value"
        elif op in _ORDERED and values[0].kind == "NUMBER" and kind != "attr":
            args = [values[0].value]
            column = f"TRY_CAST({t}.value AS DOUBLE)"
        else:
            args = [v.value if v.kind == "STRING" else v.text for v in values]
            column = f"{a}.{name}" if kind == "attr" else f"{t}.value"
            if kind == "attr" and name in self.target.synonyms:
                words = self.target.synonyms[name]
                args = [words.get(str(x), x) for x in args]
        if op in ("IN", "NOT IN"):
            predicate = f"{column} {op} ({', '.join('?' * len(args))})"
        else:
            predicate = f"{column} {op} ?"
        if kind == "attr":
            self.params.extend(args)
            return f"COALESCE({predicate}, FALSE)"
        self.params.extend([name, *args])
        return f"{exists} AND {predicate})"


def compile_filter(filter_string: str | None, run_alias: str = "r",
                   target: Target = RUNS) -> tuple[str, list[object]]:
    """Compile an MLflow ``search_runs`` filter string to a DuckDB boolean expression.

    Parameters
    ----------
    filter_string : str or None
        For example ``"metrics.acc > 0.9 AND params.model = 'rf'"``. ``None`` or a
        blank string matches every run.
    run_alias : str, default "r"
        Alias of the ``runs`` table in the surrounding query.

    Returns
    -------
    tuple of (str, list)
        The SQL expression (``"TRUE"`` for an empty filter) and its ``?`` parameters,
        in order.

    Raises
    ------
    FilterSyntaxError
        If the filter cannot be parsed; ``position`` is the offending offset.
    ValueError
        If ``run_alias`` is not a plain identifier (or is ``m``, ``p`` or ``t``).
    """
    alias = _check_alias(run_alias)
    if filter_string is None or not check_filter_text(filter_string).strip():
        return "TRUE", []
    parser = _Parser(filter_string, alias, target)
    sql = parser.parse_filter()
    return sql, parser.params


def compile_order_by(order_by: list[str] | None, run_alias: str = "r") -> tuple[str, list[object]]:
    """Compile MLflow ``order_by`` items to a DuckDB ORDER BY list.

    Parameters
    ----------
    order_by : list of str or None
        Items such as ``"metrics.acc DESC"``, ``"params.model"`` or
        ``"attributes.start_time ASC"`` (ASC is the default). Runs without the key
        sort last in either direction.
    run_alias : str, default "r"
        Alias of the ``runs`` table in the surrounding query.

    Returns
    -------
    tuple of (str, list)
        The comma-separated ORDER BY items (without ``ORDER BY``), always ending with
        ``start_time DESC, run_id`` as tiebreakers, and their ``?`` parameters.

    Raises
    ------
    FilterSyntaxError
        If an item cannot be parsed; ``text`` is the item, ``position`` the offset.
    ValueError
        If ``run_alias`` is not a plain identifier (or is ``m``, ``p`` or ``t``).
    """
    a = _check_alias(run_alias)
    default = f"{a}.start_time DESC, {a}.run_id"
    items: list[str] = []
    params: list[object] = []
    for item in order_by or []:
        if not isinstance(item, str):
            raise FilterSyntaxError(f"expected an order_by string, found {type(item).__name__}")
        parser = _Parser(check_filter_text(item, "order_by item"), a)
        tok = parser.next()
        kind, name = parser.entity(tok, "an entity to order by, such as metrics.acc DESC")
        direction = "ASC"
        if parser.is_kw(parser.peek(), "ASC", "DESC"):
            direction = parser.next().text.upper()
        end = parser.peek()
        if end.kind != "EOF":
            raise parser.expected(f"ASC, DESC or end of input after {tok.text!r}", end)
        if kind == "dataset":
            raise parser.fail(f"cannot order by {tok.text!r}: runs order by metrics., "
                              "params., tags. or attributes", tok)
        if kind == "attr":
            expr = f"{a}.{name}"
        else:
            expr = _subquery(kind, a, select_value=True) + ")"
            params.append(name)
        items.append(f"{expr} {direction} NULLS LAST")
    return ", ".join([*items, default]), params
