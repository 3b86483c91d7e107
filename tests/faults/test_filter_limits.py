"""Filters past the grammar's limits get a FilterSyntaxError naming the limit (issue 13,
fault 8): before, 2,000 nested parentheses raised RecursionError and 3,000 ANDs a raw DuckDB
BinderException (and 300 ANDs took over 100 s to plan)."""

from __future__ import annotations

import pytest

import trackbook as tb
from trackbook._errors import FilterSyntaxError
from trackbook.tracking.search import MAX_FILTER_COMPARISONS, MAX_FILTER_DEPTH

pytestmark = pytest.mark.usefixtures("store")


@pytest.fixture
def run_id() -> str:
    with tb.start_run() as run:
        tb.log_metric("a", 1.0)
        tb.log_param("p", "x")
    return run.info.run_id


def search(filter_string: object) -> list[str]:
    return list(tb.search_runs(filter_string=filter_string)["run_id"])  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "message"), [
    ("(" * 2000 + "metrics.a > 0" + ")" * 2000, f"more than {MAX_FILTER_DEPTH} levels"),
    ("NOT " * 2000 + "metrics.a > 0", f"more than {MAX_FILTER_DEPTH} levels"),
    (" AND ".join(["metrics.a > 0"] * 3000), f"more than {MAX_FILTER_COMPARISONS} comparisons"),
    (" OR ".join(["params.p = 'x'"] * (MAX_FILTER_COMPARISONS + 1)), "comparisons"),
], ids=["2000 parens", "2000 NOTs", "3000 ANDs", "51 ORs"])
def test_filters_past_the_limits_are_syntax_errors(run_id: str, text: str,
                                                   message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message):
        search(text)


def test_filters_at_the_limits_work(run_id: str) -> None:
    deep = "(" * MAX_FILTER_DEPTH + "metrics.a > 0" + ")" * MAX_FILTER_DEPTH
    many = " AND ".join(["metrics.a > 0"] * MAX_FILTER_COMPARISONS)
    assert search(deep) == [run_id]
    assert search(many) == [run_id]
    assert search("params.p IN (" + ", ".join(f"'{i}'" for i in range(5000)) + ", 'x')") \
        == [run_id]


@pytest.mark.parametrize("text", [
    "attributes.start_time > " + "9" * 5000,  # int() refuses > 4,300 digits
    "attributes.start_time < 99999999999999999999",  # past int64
    "attributes.end_time IN (-99999999999999999999, 1)",
])
def test_huge_numbers_compare_as_numbers(run_id: str, text: str) -> None:
    assert search(text) in ([], [run_id])


@pytest.mark.parametrize("bad", [3, b"metrics.a > 0", ["metrics.a > 0"],
                                 "params.p = 'data-\udcff.csv'", "params.`\udcff` = 'x'"])
def test_non_text_filters_are_syntax_errors(run_id: str, bad: object) -> None:
    with pytest.raises(FilterSyntaxError):
        search(bad)
    with pytest.raises(FilterSyntaxError):
        tb.search_runs(order_by=["params.\udcff"])
    with pytest.raises(FilterSyntaxError):
        tb.search_experiments(filter_string=bad if not isinstance(bad, str)
                              else "name = 'a\udcff'")
    with pytest.raises(FilterSyntaxError):
        tb.Client().search_registered_models(filter_string=bad if not isinstance(bad, str)
                                             else "name = 'x' AND")
