"""Property tests (hypothesis) over arbitrary unicode text, lone surrogates included, and
arbitrary bytes decoded with ``surrogateescape`` (issue 13: filter grammar and name
validation).

- The filter and order_by compilers raise nothing but FilterSyntaxError, and the SQL they
  emit is made of our fixed fragments and ``?`` placeholders only: no user text reaches it.
- Compiled filters run on a real catalog without any other error.
- Name checks accept (returning the name unchanged) or raise InvalidNameError.
- Logging a param or tag either succeeds and round-trips exactly through search_runs, or
  raises a TrackbookError; any string in a log record folds (as U+FFFD where UTF-8 cannot
  encode it). The store stays readable after every example.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import trackbook as tb
from trackbook._errors import FilterSyntaxError, InvalidNameError, TrackbookError
from trackbook._text import storable
from trackbook.registry import _names as registry_names
from trackbook.registry.search import MODEL_KEYS
from trackbook.registry.search import compile_filter as registry_filter
from trackbook.tracking import validation as v
from trackbook.tracking.search import ATTRIBUTES, compile_filter, compile_order_by
from trackbook.tracking.uri import get_store

# Every code point, lone surrogates included, plus text from arbitrary bytes as
# os.fsdecode / sys.argv / os.listdir produce it.
ANY_TEXT = st.one_of(
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40),
    st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
NASTY = st.sampled_from(["'", '"', "`", "\\", "\\'", "''", "\x00", "\udcff", "\ud800", "%",
                         "_", "(", ")", ";", "--", "/*", "é", "\u202e", " ", "\n", "?",
                         "$1", "DROP TABLE runs", "' OR '1'='1"])
KEY_TEXT = st.one_of(ANY_TEXT, st.lists(NASTY, max_size=5).map("".join))
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
STORE_SETTINGS = settings(max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])


def quoted(text: str, q: str) -> str:
    return q + text.replace("\\", "\\\\").replace(q, q + q) + q


IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_./:-]{0,12}", fullmatch=True)


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    """Mostly well-formed comparisons (so the compiler gets past the first token), with
    arbitrary text in keys and values and the odd malformed part."""
    prefix = draw(st.sampled_from(["metrics", "params", "tags", "params", "tags", "metric",
                                   "param", "tag", "attributes", "run", "bogus", ""]))
    if prefix in ("attributes", "run", ""):
        entity_key = draw(st.one_of(st.sampled_from(list(ATTRIBUTES)), IDENT))
    else:
        key = draw(KEY_TEXT)
        entity_key = draw(st.one_of(IDENT, st.just(quoted(key, "`")),
                                    st.just(quoted(key, '"')), st.just(key)))
    entity = f"{prefix}.{entity_key}" if prefix else entity_key
    op = draw(st.sampled_from(["=", "==", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "ILIKE",
                               "NOT LIKE", "not ilike", "IN", "NOT IN", "IS NULL",
                               "IS NOT NULL", "=", "!=", ">", ""]))
    value = draw(st.one_of(
        ANY_TEXT.map(lambda t: quoted(t, "'")), ANY_TEXT.map(lambda t: quoted(t, '"')),
        KEY_TEXT.map(lambda t: quoted(t, "'")),
        st.floats(allow_nan=True).map(repr), st.integers().map(str),
        st.sampled_from(["nan", "inf", "-inf", "+Infinity", "1e999", "9" * 30, "0x10"]),
        ANY_TEXT))
    if op.upper().endswith("IN"):
        value = "(" + ", ".join([value] * draw(st.integers(0, 3))) + ")"
    elif op.upper().startswith("IS"):
        value = ""
    return f"{entity} {op} {value}"


FILTERS = st.one_of(
    ANY_TEXT, comparisons(),
    st.recursive(comparisons(), lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" AND ", " OR ", " and ", " ", " AND NOT "]),
                  inner).map("".join),
        inner.map(lambda f: f"({f})"), inner.map(lambda f: f"NOT {f}"),
        inner.map(lambda f: f"({f}")), max_leaves=6),
)

# The SQL the compilers may emit: our keywords, tables, aliases and columns, operators,
# parentheses, commas and ``?``. Any other word, any quote or digit would be user text.
_SQL_WORDS = {
    "SELECT", "FROM", "WHERE", "EXISTS", "AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS",
    "NULL", "TRUE", "FALSE", "COALESCE", "TRY_CAST", "AS", "DOUBLE", "ASC", "DESC", "NULLS",
    "LAST", "latest_metrics", "params", "tags", "m", "p", "t", "r", "value", "run_id", "key",
    "1", *ATTRIBUTES,
}
_SQL_TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|1|\?|==|!=|<>|<=|>=|[=<>(),.]|\S")


def assert_only_our_sql(sql: str, params: list[object]) -> None:
    tokens = _SQL_TOKEN.findall(sql)
    foreign = [t for t in tokens if t not in _SQL_WORDS and t not in
               {"?", "=", "!=", "<", "<=", ">", ">=", "(", ")", ",", "."}]
    assert not foreign, f"user text in SQL: {foreign} in {sql!r}"
    assert tokens.count("?") == len(params)


@SETTINGS
@given(FILTERS)
@example("(" * 2000 + "params.p = 'x'" + ")" * 2000)
@example("NOT " * 5000 + "params.p = 'x'")
@example(5)
def test_filter_compiler_raises_only_syntax_errors_and_emits_only_placeholders(
        text: str) -> None:
    try:
        sql, params = compile_filter(text)
    except FilterSyntaxError:
        return
    assert_only_our_sql(sql, params)


@SETTINGS
@given(st.lists(st.one_of(ANY_TEXT, comparisons().map(lambda c: c.split(" ")[0] + " DESC")),
                max_size=3))
def test_order_by_compiler_raises_only_syntax_errors(items: list[str]) -> None:
    try:
        sql, params = compile_order_by(items)
    except FilterSyntaxError:
        return
    assert_only_our_sql(sql, params)


@SETTINGS
@given(st.one_of(ANY_TEXT, st.lists(NASTY, max_size=6).map("".join)))
def test_registry_and_experiment_filters_raise_only_syntax_errors(text: str) -> None:
    with contextlib.suppress(FilterSyntaxError):
        registry_filter(text, MODEL_KEYS)({"name": "m", "tags": {}})
    with contextlib.suppress(FilterSyntaxError):
        registry_filter(f"name = {quoted(text, chr(39))} AND tags.`x` != 'y'",
                        MODEL_KEYS)({"name": text, "tags": {"x": "z"}})


@SETTINGS
@given(st.one_of(KEY_TEXT, st.text("ab/.:_- é\t\n", max_size=300)))
def test_name_checks_accept_unchanged_or_raise_invalid_name(name: str) -> None:
    checks = [lambda n: v.check_name("param", n), v.check_experiment_name, v.check_run_name,
              registry_names.check_model_name, registry_names.check_tag_key]
    for check in checks:
        try:
            got = check(name)
        except InvalidNameError:
            continue
        assert got == name
        assert storable(name) == name  # nothing accepted is unstorable
        name.encode("utf-8")


# -- through a real store -------------------------------------------------------------------

@pytest.fixture
def prop_store(store: Path) -> Path:
    """The fresh store of ``store`` (one per test, shared by its examples), with a run."""
    with tb.start_run():
        tb.log_metric("a", 1.0)
        tb.log_param("p", "x")
        tb.set_tag("t", "é")
    return store


def assert_readable() -> None:
    assert len(tb.search_runs(search_all_experiments=True)) >= 1
    tb.sql("SELECT count(*) FROM params")


@STORE_SETTINGS
@given(FILTERS)
@example("params.p = 'data-\udcff.csv'")  # before: UnicodeEncodeError from DuckDB
@example("(" * 2000 + "params.p = 'x'" + ")" * 2000)  # before: RecursionError
@example(" AND ".join(["metrics.a > 0"] * 3000))  # before: DuckDB BinderException
@example("attributes.start_time > " + "9" * 5000)  # before: ValueError from int()
def test_filters_run_on_the_catalog_with_only_syntax_errors(prop_store: Path,
                                                            text: str) -> None:
    with contextlib.suppress(FilterSyntaxError):
        tb.search_runs(filter_string=text, search_all_experiments=True)
    assert_readable()


_counter = itertools.count()


@STORE_SETTINGS
@given(key=st.one_of(st.just(None), KEY_TEXT), value=st.one_of(ANY_TEXT, st.integers(),
                                                               st.floats()))
def test_param_and_tag_round_trip_or_are_refused(prop_store: Path, key: str | None,
                                                 value: object) -> None:
    n = next(_counter)
    param_key = f"p{n}" if key is None else key
    tag_key = f"t{n}" if key is None else key
    with tb.start_run() as run:
        logged = {}
        for what, log in (("params", tb.log_param), ("tags", tb.set_tag)):
            k = param_key if what == "params" else tag_key
            try:
                log(k, value)
            except TrackbookError:
                continue
            logged[f"{what}.{k}"] = str(value)
    row = tb.search_runs(filter_string=f"attributes.run_id = '{run.info.run_id}'",
                         search_all_experiments=True).iloc[0]
    for column, text in logged.items():
        assert row[column] == text
    assert_readable()


@STORE_SETTINGS
@given(ANY_TEXT, ANY_TEXT)
def test_any_string_in_a_log_record_folds(prop_store: Path, key: str, value: str) -> None:
    """Records written before this check existed (or by hand) never break the catalog."""
    with tb.start_run() as run:
        pass
    session = get_store().session
    session.record("params", run=run.info.run_id, data={f"k{key}": value})
    session.record("tags", run=run.info.run_id, data={f"k{key}": value})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = tb.get_run(run.info.run_id).data
        assert data.params[storable(f"k{key}")] == storable(value)
        assert data.tags[storable(f"k{key}")] == storable(value)
        assert_readable()
