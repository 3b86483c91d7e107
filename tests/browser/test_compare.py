"""Compare widget in a real JupyterLab + headless Chromium: a line per run, and clicking a
point or a line ticks the run in the table (and in Python)."""

from __future__ import annotations

from typing import Any

import pytest
from lab_driver import (
    kernel_exec,
    running_notebook,
    screenshot,
    wait_for_kernel_value,
)

N = 8


def cells(store: str) -> list[str]:
    return [
        "import trackbook as tb\n"
        f"tb.set_tracking_uri({store!r})\n"
        "tb.set_experiment('compare')\n"
        f"for i in range({N}):\n"
        "    with tb.start_run(run_name=f'run-{i}'):\n"
        "        tb.log_params({'lr': 10 ** -(i % 4), 'depth': 2 + i % 3, 'opt': 'adam' if i % 2 "
        "else 'sgd'})\n"
        "        tb.log_metric('acc', 0.5 + i / 20)",
        "table = tb.runs_table('compare', refresh_seconds=0.5)\ntable",
        "cmp = tb.compare(table, refresh_seconds=0.5)\ncmp",
    ]


@pytest.fixture(scope="module")
def nb(lab: Any, page: Any) -> Any:
    with running_notebook(page, lab, "compare", cells, ".tb-parallel polyline.tb-line") as p:
        yield p


def test_one_line_and_one_point_per_run(nb: Any) -> None:
    nb.wait_for_function(f"() => document.querySelectorAll('.tb-parallel .tb-line').length"
                         f" === {N}")
    assert nb.locator(".tb-scatter circle.tb-point").count() == N
    axes = nb.locator(".tb-parallel .tb-axis").evaluate_all("gs => gs.map(g => g.dataset.col)")
    assert axes == ["params.depth", "params.lr", "params.opt", "metrics.acc"]


def test_clicking_a_point_ticks_the_run_in_the_table(nb: Any) -> None:
    point = nb.locator(".tb-scatter circle.tb-point").first
    run_id = point.get_attribute("data-run-id")
    point.click()
    assert wait_for_kernel_value(nb, "table.selected", [run_id]) == [run_id]
    nb.locator(f'tr[data-run-id="{run_id}"] input.tb-row-check:checked').wait_for()
    nb.locator(f'.tb-parallel .tb-line.tb-on[data-run-id="{run_id}"]').wait_for()
    # and back: ticking a row in the table highlights its line
    other = nb.locator(".tb-runs-table tbody tr[data-run-id]").nth(3).get_attribute("data-run-id")
    nb.locator(f'tr[data-run-id="{other}"] input.tb-row-check').check()
    nb.locator(f'.tb-parallel .tb-line.tb-on[data-run-id="{other}"]').wait_for()
    assert sorted(wait_for_kernel_value(nb, "sorted(cmp.selected)", sorted([run_id, other]))) \
        == sorted([run_id, other])
    screenshot(nb, "compare-selected")
    kernel_exec(nb, "table.selected = []")


def test_table_filter_narrows_the_comparison(nb: Any) -> None:
    kernel_exec(nb, "table.filter = \"params.opt = 'adam'\"")
    nb.wait_for_function(f"() => document.querySelectorAll('.tb-parallel .tb-line').length"
                         f" === {N // 2}")
    kernel_exec(nb, "table.filter = ''")
    nb.wait_for_function(f"() => document.querySelectorAll('.tb-parallel .tb-line').length"
                         f" === {N}")
