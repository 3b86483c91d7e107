"""Tests for trackbook.tracking.search against a real DuckDB catalog."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from trackbook._errors import FilterSyntaxError
from trackbook.store.schema import DDL
from trackbook.tracking.search import ATTRIBUTES, compile_filter, compile_order_by

ALL = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]

# run_id, experiment_id, run_name, status, start, end, lifecycle, user, parent, artifact_uri
RUNS = [
    ("r1", "1", "alpha", "FINISHED", 1000, 2000, "active", "alice", None, "file:///a/r1"),
    ("r2", "1", "beta", "FINISHED", 2000, 3000, "active", "bob", None, "file:///a/r2"),
    ("r3", "1", "gamma", "FAILED", 3000, 3500, "active", "alice", "r1", "file:///a/r3"),
    ("r4", "2", "delta", "RUNNING", 4000, None, "active", "carol", "r1", "s3://b/r4"),
    ("r5", "2", "Alpha-2", "KILLED", 5000, 5100, "active", "bob", None, "s3://b/r5"),
    ("r6", "1", None, "FINISHED", 6000, 7000, "active", "alice", None, "file:///a/r6"),
    ("r7", "2", "eps", "FINISHED", 7000, 9000, "active", "dave", None, "s3://b/r7"),
    ("r8", "1", "zeta", "RUNNING", 8000, None, "deleted", "erin", None, "file:///a/r8"),
]
METRICS = {
    "acc": {"r1": 0.9, "r2": 0.8, "r3": 0.5, "r4": 0.95, "r5": 0.8, "r7": 0.7},
    "loss": {"r1": 0.1, "r2": 0.3, "r3": 1.5, "r6": -0.5},
    "val/auc": {"r1": 0.7, "r2": 0.9},
    "my metric": {"r5": 1.0, "r6": 2.0},
}
PARAMS = {
    "model": {"r1": "rf", "r2": "xgb", "r3": "RF", "r4": "lgbm", "r6": "rf-large"},
    "depth": {"r1": "8", "r2": "10", "r3": "8", "r4": "abc", "r5": "2"},
    "lr": {"r1": "0.01", "r2": "0.1", "r3": "0.001", "r4": "0.1", "r5": "1e-3"},
    "model.depth": {"r1": "3"},
    "a b": {"r2": "yes"},
    "x": {"r1": "a"},
}
TAGS = {
    "team": {"r1": "core", "r2": "core", "r3": "research", "r5": "Core"},
    "mlflow.runName": {"r1": "alpha"},
    "note": {"r4": "it's ok", "r6": 'say "hi"'},
    "priority": {"r1": "1", "r2": "10", "r3": "2"},
}


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    path = tmp_path_factory.mktemp("catalog") / "catalog.duckdb"
    con = duckdb.connect(str(path))
    con.execute(DDL)
    con.executemany(
        "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, end_time, "
        "lifecycle_stage, user_id, parent_run_id, artifact_uri) VALUES (?,?,?,?,?,?,?,?,?,?)",
        RUNS,
    )
    for key, values in METRICS.items():
        for run_id, value in values.items():
            con.execute(
                "INSERT INTO latest_metrics VALUES (?, ?, ?, 0, 0, ?, ?, 1)",
                [run_id, key, value, value, value],
            )
    for table, data in (("params", PARAMS), ("tags", TAGS)):
        for key, values in data.items():
            for run_id, value in values.items():
                cols = "(run_id, key, value)"
                con.execute(f"INSERT INTO {table} {cols} VALUES (?, ?, ?)", [run_id, key, value])
    yield con
    con.close()


def run_ids(
    con: duckdb.DuckDBPyConnection, filter_string: str | None, order_by: list[str] | None = None
) -> list[str]:
    where, where_params = compile_filter(filter_string)
    order, order_params = compile_order_by(order_by or ["run_id"])
    sql = f"SELECT r.run_id FROM runs r WHERE ({where}) ORDER BY {order}"
    return [row[0] for row in con.execute(sql, where_params + order_params).fetchall()]


def but(*excluded: str) -> list[str]:
    return [r for r in ALL if r not in excluded]


FILTERS = [
    # empty
    (None, ALL),
    ("", ALL),
    ("   ", ALL),
    # metrics: every operator
    ("metrics.acc > 0.8", ["r1", "r4"]),
    ("metrics.acc>0.8", ["r1", "r4"]),
    ("metrics.acc >= 0.8", ["r1", "r2", "r4", "r5"]),
    ("metrics.acc < 0.8", ["r3", "r7"]),
    ("metrics.acc <= 0.7", ["r3", "r7"]),
    ("metrics.acc = 0.8", ["r2", "r5"]),
    ("metrics.acc == 8e-1", ["r2", "r5"]),
    ("metrics.acc != 0.8", ["r1", "r3", "r4", "r7"]),  # runs without acc do not match
    ("metrics.acc <> 0.8", ["r1", "r3", "r4", "r7"]),
    ("metrics.acc IN (0.8, 0.5)", ["r2", "r3", "r5"]),
    ("metrics.acc not in (0.8, 0.5)", ["r1", "r4", "r7"]),
    ("metrics.acc IS NULL", ["r6", "r8"]),
    ("metrics.acc is not null", but("r6", "r8")),
    ("metrics.loss < -0.1", ["r6"]),
    ("metrics.loss > -1", ["r1", "r2", "r3", "r6"]),
    ("metrics.acc < inf", but("r6", "r8")),
    ("metrics.acc > -inf", but("r6", "r8")),
    ("metrics.acc > +inf", []),
    ("metrics.`val/auc` > 0.8", ["r2"]),
    ("metrics.val/auc > 0.8", ["r2"]),
    ("metrics.`my metric` = 2", ["r6"]),
    ('metrics."my metric" >= 1', ["r5", "r6"]),
    ("metric.acc > 0.9", ["r4"]),
    ("metrics.nope > 0", []),
    # params
    ("params.model = 'rf'", ["r1"]),
    ('params.model == "rf"', ["r1"]),
    ("params.model != 'rf'", ["r2", "r3", "r4", "r6"]),  # runs without model do not match
    ("params.model <> 'rf'", ["r2", "r3", "r4", "r6"]),
    ("params.model LIKE 'rf%'", ["r1", "r6"]),
    ("params.model like '_gb'", ["r2"]),
    ("params.model ILIKE 'rf%'", ["r1", "r3", "r6"]),
    ("params.model NOT LIKE 'rf%'", ["r2", "r3", "r4"]),
    ("params.model NOT ILIKE 'rf%'", ["r2", "r4"]),
    ("params.model IN ('rf', \"xgb\")", ["r1", "r2"]),
    ("params.model NOT IN ('rf', 'xgb')", ["r3", "r4", "r6"]),
    ("params.model IS NULL", ["r5", "r7", "r8"]),
    ("params.model IS NOT NULL", ["r1", "r2", "r3", "r4", "r6"]),
    ("params.depth = 8", ["r1", "r3"]),  # number compared as the text written
    ("params.depth = '8'", ["r1", "r3"]),
    ("params.depth IN (8, 2)", ["r1", "r3", "r5"]),
    ("params.depth > 5", ["r1", "r2", "r3"]),  # numeric: 'abc' never matches
    ("params.depth > '5'", ["r1", "r3", "r4"]),  # string comparison
    ("params.depth <= 8", ["r1", "r3", "r5"]),
    ("params.lr = 0.1", ["r2", "r4"]),
    ("params.lr = 0.10", []),
    ("params.lr < 0.05", ["r1", "r3", "r5"]),  # '1e-3' casts to 0.001
    ("params.`model.depth` = '3'", ["r1"]),
    ("params.model.depth = '3'", ["r1"]),
    ("params.\"a b\" = 'yes'", ["r2"]),
    ("param.model = 'rf'", ["r1"]),
    # tags
    ("tags.team = 'core'", ["r1", "r2"]),
    ("tags.team ILIKE 'CORE'", ["r1", "r2", "r5"]),
    ("tags.team != 'core'", ["r3", "r5"]),
    ("tags.team < 'd'", ["r1", "r2", "r5"]),
    ("tags.`mlflow.runName` = 'alpha'", ["r1"]),
    ("tags.mlflow.runName = 'alpha'", ["r1"]),
    ("tags.note = 'it''s ok'", ["r4"]),
    ("tags.note = 'it\\'s ok'", ["r4"]),
    ('tags.note = "it\'s ok"', ["r4"]),
    ("tags.note = 'say \"hi\"'", ["r6"]),
    ('tags.note = "say ""hi"""', ["r6"]),
    ('tags.note = "say \\"hi\\""', ["r6"]),
    ("tags.note LIKE '%''%'", ["r4"]),
    ("tags.priority >= 2", ["r2", "r3"]),  # numeric
    ("tags.priority >= '2'", ["r3"]),  # string
    ("tag.team IS NOT NULL", ["r1", "r2", "r3", "r5"]),
    # attributes
    ("status = 'FINISHED'", ["r1", "r2", "r6", "r7"]),
    ("attributes.status = 'FINISHED'", ["r1", "r2", "r6", "r7"]),
    ("attribute.status == 'FINISHED'", ["r1", "r2", "r6", "r7"]),
    ("run.status = 'FINISHED'", ["r1", "r2", "r6", "r7"]),
    ("status = 'finished'", []),  # case-sensitive values
    ("status != 'FINISHED'", ["r3", "r4", "r5", "r8"]),
    ("status IN ('FAILED', 'KILLED')", ["r3", "r5"]),
    ("status NOT IN ('FINISHED', 'RUNNING')", ["r3", "r5"]),
    ("run_name LIKE 'alpha%'", ["r1"]),
    ("run_name ILIKE 'alpha%'", ["r1", "r5"]),
    ("run_name NOT LIKE 'a%'", ["r2", "r3", "r4", "r5", "r7", "r8"]),  # NULL name: no match
    ("NOT run_name LIKE 'a%'", but("r1")),  # ... but NOT is the complement
    ("run_name IS NULL", ["r6"]),
    ("run_name > 'x'", ["r8"]),
    ("start_time > 3000", ["r4", "r5", "r6", "r7", "r8"]),
    ("start_time >= 3000 AND start_time < 6000", ["r3", "r4", "r5"]),
    ("attributes.start_time = 1000", ["r1"]),
    ("start_time IN (1000, 2000.0)", ["r1", "r2"]),
    ("end_time > 5000", ["r5", "r6", "r7"]),
    ("end_time != 2000", ["r2", "r3", "r5", "r6", "r7"]),
    ("end_time IS NULL", ["r4", "r8"]),
    ("parent_run_id = 'r1'", ["r3", "r4"]),
    ("parent_run_id IS NOT NULL", ["r3", "r4"]),
    ("experiment_id = 2", ["r4", "r5", "r7"]),
    ("experiment_id = '1'", ["r1", "r2", "r3", "r6", "r8"]),
    ("user_id = 'alice'", ["r1", "r3", "r6"]),
    ("run_id = 'r3'", ["r3"]),
    ("attributes.run_id IN ('r3', 'r5', 'nope')", ["r3", "r5"]),
    ("artifact_uri LIKE 's3://%'", ["r4", "r5", "r7"]),
    ("lifecycle_stage = 'active'", but("r8")),
    ("Status = 'FAILED'", ["r3"]),
    # boolean structure and precedence
    ("metrics.acc > 0.85 OR params.model = 'xgb' AND status = 'FAILED'", ["r1", "r4"]),
    ("(metrics.acc > 0.85 OR params.model = 'xgb') AND status = 'FINISHED'", ["r1", "r2"]),
    ("NOT status = 'FINISHED'", ["r3", "r4", "r5", "r8"]),
    ("NOT status = 'FINISHED' AND user_id = 'alice'", ["r3"]),
    ("NOT (status = 'FINISHED' AND user_id = 'alice')", but("r1", "r6")),
    ("NOT metrics.acc > 0.8", but("r1", "r4")),
    ("NOT NOT status = 'FAILED'", ["r3"]),
    ("((status = 'FAILED'))", ["r3"]),
    ("params.model = 'rf' or params.model = 'xgb'", ["r1", "r2"]),
    ("status = 'FAILED' OR status = 'KILLED' OR run_id = 'r1'", ["r1", "r3", "r5"]),
    ("metrics.acc > 0.5 and metrics.loss < 1 and tags.team = 'core'", ["r1", "r2"]),
    ("(status = 'FAILED' OR (run_id = 'r1' AND NOT tags.team IS NULL))", ["r1", "r3"]),
]


@pytest.mark.parametrize(("filter_string", "expected"), FILTERS)
def test_filter_matches_expected_runs(
    con: duckdb.DuckDBPyConnection, filter_string: str | None, expected: list[str]
) -> None:
    assert run_ids(con, filter_string) == expected


@pytest.mark.parametrize(("filter_string", "expected"), FILTERS)
def test_filter_sql_has_one_placeholder_per_param(
    filter_string: str | None, expected: list[str]
) -> None:
    sql, params = compile_filter(filter_string)
    assert sql.count("?") == len(params)
    for value in ("alpha", "FINISHED", "rf", "mlflow", "acc", "0.8"):
        assert value not in sql


def test_empty_filter_is_true() -> None:
    assert compile_filter(None) == ("TRUE", [])
    assert compile_filter("") == ("TRUE", [])


def test_run_alias_is_used_and_validated() -> None:
    sql, _ = compile_filter("status = 'X' AND metrics.a > 1", run_alias="runs_1")
    assert "runs_1.status" in sql
    assert "runs_1.run_id" in sql
    order, _ = compile_order_by(None, run_alias="runs_1")
    assert order == "runs_1.start_time DESC, runs_1.run_id"
    for bad in ("r; DROP TABLE runs", "r.x", "", "m"):
        with pytest.raises(ValueError):
            compile_filter("status = 'X'", run_alias=bad)
        with pytest.raises(ValueError):
            compile_order_by(None, run_alias=bad)


ORDERS = [
    (None, ["r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1"]),
    ([], ["r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1"]),
    # ties broken by start_time DESC; runs without the metric last
    (["metrics.acc DESC"], ["r4", "r1", "r5", "r2", "r7", "r3", "r8", "r6"]),
    (["metrics.acc ASC"], ["r3", "r7", "r5", "r2", "r1", "r4", "r8", "r6"]),
    (["metrics.acc"], ["r3", "r7", "r5", "r2", "r1", "r4", "r8", "r6"]),
    (["metrics.acc desc"], ["r4", "r1", "r5", "r2", "r7", "r3", "r8", "r6"]),
    (["metrics.`my metric` DESC"], ["r6", "r5", "r8", "r7", "r4", "r3", "r2", "r1"]),
    (["params.model"], ["r3", "r4", "r1", "r6", "r2", "r8", "r7", "r5"]),
    (["params.model DESC"], ["r2", "r6", "r1", "r4", "r3", "r8", "r7", "r5"]),
    (["tags.team DESC", "start_time ASC"], ["r3", "r1", "r2", "r5", "r4", "r6", "r7", "r8"]),
    (["start_time"], ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]),
    (["attributes.end_time ASC"], ["r1", "r2", "r3", "r5", "r6", "r7", "r8", "r4"]),
    (["end_time DESC"], ["r7", "r6", "r5", "r3", "r2", "r1", "r8", "r4"]),
    (["run_name DESC"], ["r8", "r3", "r7", "r4", "r2", "r1", "r5", "r6"]),
    (["status", "metrics.loss DESC"], ["r3", "r2", "r1", "r6", "r7", "r5", "r8", "r4"]),
]


@pytest.mark.parametrize(("order_by", "expected"), ORDERS)
def test_order_by(
    con: duckdb.DuckDBPyConnection, order_by: list[str] | None, expected: list[str]
) -> None:
    order, params = compile_order_by(order_by)
    assert order.count("?") == len(params)
    sql = f"SELECT r.run_id FROM runs r ORDER BY {order}"
    assert [row[0] for row in con.execute(sql, params).fetchall()] == expected


def test_order_by_default_text() -> None:
    assert compile_order_by(None) == ("r.start_time DESC, r.run_id", [])
    order, params = compile_order_by(["metrics.acc DESC", "params.model"])
    assert order.endswith("r.start_time DESC, r.run_id")
    assert order.count("NULLS LAST") == 2
    assert params == ["acc", "model"]


def test_full_query_shape_with_filter_and_order_params(con: duckdb.DuckDBPyConnection) -> None:
    where, where_params = compile_filter("params.model IS NOT NULL AND metrics.loss > -10")
    order, order_params = compile_order_by(["metrics.loss DESC"])
    sql = (
        "SELECT r.run_id FROM runs r WHERE r.experiment_id IN (?, ?) "
        f"AND ({where}) ORDER BY {order} LIMIT ? OFFSET ?"
    )
    params = ["1", "2", *where_params, *order_params, 3, 0]
    assert [row[0] for row in con.execute(sql, params).fetchall()] == ["r3", "r2", "r1"]
    params[-1] = 3
    assert [row[0] for row in con.execute(sql, params).fetchall()] == ["r6"]


# -- injection -------------------------------------------------------------------------

INJECTIONS = [
    "params.x = 'a'' OR 1=1 --'",
    "params.x = 'a\\' OR 1=1 --'",
    "params.x = \"a' OR '1'='1\"",
    "params.`x'; DROP TABLE runs; --` = 'a'",
    "params.`x) OR (1=1` = 'a'",
    'tags."t""; DELETE FROM runs; --" = \'x\'',
    "metrics.`acc) OR TRUE OR (1` > 0",
    "status = 'FINISHED'' OR ''1''=''1'",
    "params.`a?b` = '?'",
    "run_name = 'x''); DROP TABLE runs; --'",
]


@pytest.mark.parametrize("filter_string", INJECTIONS)
def test_injection_matches_nothing(con: duckdb.DuckDBPyConnection, filter_string: str) -> None:
    sql, params = compile_filter(filter_string)
    for fragment in ("DROP", "DELETE", "1=1", "'1'", "OR TRUE", "--", "x'", "a?b"):
        assert fragment not in sql
    assert sql.count("?") == len(params)
    assert run_ids(con, filter_string) == []
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (8,)


@pytest.mark.parametrize(
    "filter_string",
    [
        "status = 'FINISHED'; DROP TABLE runs",
        "run_id = 'r1' OR 1=1",
        "metrics.acc > 0 UNION SELECT 1",
        "status = 'FINISHED' -- comment",
        "status = 'x' OR run_id = run_id",
        "params.x = 'a'; DELETE FROM runs",
        "r.run_id = 'r1'",
        "status = (SELECT 'FINISHED')",
    ],
)
def test_injection_is_a_syntax_error(con: duckdb.DuckDBPyConnection, filter_string: str) -> None:
    with pytest.raises(FilterSyntaxError):
        compile_filter(filter_string)
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (8,)


def test_order_by_injection(con: duckdb.DuckDBPyConnection) -> None:
    key = "x) DESC; DROP TABLE runs; --"
    order, params = compile_order_by([f"metrics.`{key}` DESC"])
    assert "DROP" not in order
    assert params == [key]
    assert len(run_ids(con, None, [f"metrics.`{key}` DESC"])) == 8
    for bad in ["run_id; DROP TABLE runs", "run_id DESC, (SELECT 1)", "1", "r.run_id"]:
        with pytest.raises(FilterSyntaxError):
            compile_order_by([bad])
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (8,)


# -- syntax errors ---------------------------------------------------------------------

SYNTAX_ERRORS = [
    # (filter, fragment of the message, position)
    ("metrics.acc > 0.9 AND", "expected a comparison", 21),
    ("metrics.acc > 0.9 and ", "found end of input", 22),
    ("AND status = 'x'", "found 'AND'", 0),
    ("status = 'a' AND OR status = 'b'", "found 'OR'", 17),
    ("(metrics.acc > 0.9", "')' to close the '(' at position 0", 18),
    ("((status = 'a') OR status = 'b'", "')' to close the '(' at position 0", 31),
    ("metrics.acc > 0.9)", "no matching '('", 17),
    ("()", "found ')'", 1),
    ("metrics.acc >", "expected a value", 13),
    ("metrics.acc > AND status = 'x'", "found 'AND'", 14),
    ("metrics.acc ~ 1", "expected a comparison operator", 12),
    ("metrics.acc CONTAINS 1", "found 'CONTAINS'", 12),
    ("metrics.acc ! 1", "expected a comparison operator", 12),
    ("metrics.acc", "found end of input", 11),
    ("status = 'FINISHED' extra", "expected AND, OR or end of input, found 'extra'", 20),
    ("status = 'FINISHED", "unterminated quote", 9),
    ("status = \"FINISHED'", 'expected a closing "', 9),
    ("status = 'it\\'", "unterminated", 9),
    ("status IN ()", "empty IN list", 11),
    ("status IN ('a',)", "expected a value", 15),
    ("status IN 'a'", "expected '('", 10),
    ("status IN ('a' 'b')", "expected ',' or ')'", 15),
    ("status IN ('a'", "expected ',' or ')'", 14),
    ("status IS 'x'", "expected NULL after IS", 10),
    ("status IS NOT 'x'", "expected NULL after IS NOT", 14),
    ("status NOT = 'x'", "LIKE, ILIKE or IN after NOT", 11),
    ("metrics.acc > 'high'", "compares to numbers", 14),
    ("metrics.acc IN (1, 'x')", "compares to numbers", 19),
    ("metrics.acc LIKE '%1'", "LIKE cannot be used", 12),
    ("metrics.acc NOT ILIKE '%1'", "NOT ILIKE cannot be used", 12),
    ("start_time > 'yesterday'", "compares to numbers", 13),
    ("end_time LIKE '1%'", "LIKE cannot be used", 9),
    ("foo = 1", "unknown attribute 'foo'", 0),
    ("status = 'a' OR attributes.foo = 1", "unknown attribute 'foo'", 16),
    ("metricz.acc > 1", "unknown entity prefix 'metricz.'", 0),
    ("metrics. > 1", "expected a key after 'metrics.'", 8),
    ("metrics.", "expected a key after 'metrics.', found end of input", 8),
    ("metrics.`acc > 1", "expected a closing `", 8),
    ("'FINISHED' = status", "found string 'FINISHED'", 0),
    ("1 = 1", "found '1'", 0),
    ("status == == 'x'", "found '=='", 10),
]


@pytest.mark.parametrize(("filter_string", "fragment", "position"), SYNTAX_ERRORS)
def test_syntax_errors(filter_string: str, fragment: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        compile_filter(filter_string)
    err = info.value
    assert fragment in str(err)
    assert err.position == position
    assert err.text == filter_string


def test_unknown_attribute_lists_allowed_ones() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        compile_filter("attributes.duration > 5")
    for name in ATTRIBUTES:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("item", "fragment", "position"),
    [
        ("", "expected an entity to order by", 0),
        ("   ", "found end of input", 3),
        ("DESC", "found 'DESC'", 0),
        ("metrics.acc DOWN", "expected ASC, DESC or end of input", 12),
        ("metrics.acc DESC extra", "found 'extra'", 17),
        ("metrics.acc > 1", "found '>'", 12),
        ("foo", "unknown attribute 'foo'", 0),
        ("metricz.acc", "unknown entity prefix", 0),
        ("params.`model", "expected a closing `", 7),
        ("status, run_id", "found ','", 6),
    ],
)
def test_order_by_errors(item: str, fragment: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        compile_order_by(["metrics.acc", item])
    assert fragment in str(info.value)
    assert info.value.position == position
    assert info.value.text == item
