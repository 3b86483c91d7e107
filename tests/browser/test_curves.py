"""Learning curves in a real JupyterLab + headless Chromium: one trace per selected run."""

from __future__ import annotations

from typing import Any

import pytest
from lab_driver import (
    kernel_exec,
    kernel_value,
    running_notebook,
    screenshot,
    wait_for_kernel_value,
)

N = 4
ROWS = ".tb-runs-table tbody tr[data-run-id]"
LOSS_TRACES = '.tb-curve[data-metric="loss"] .scatterlayer .trace'


def cells(store: str) -> list[str]:
    return [
        "import math\nimport trackbook as tb\n"
        f"tb.set_tracking_uri({store!r})\n"
        "tb.set_experiment('curves')\n"
        f"for i in range({N}):\n"
        "    with tb.start_run(run_name=f'run-{i}'):\n"
        "        tb.log_param('lr', 10 ** -i)\n"
        "        for s in range(3000):\n"
        "            tb.log_metrics({'loss': (i + 1) * math.exp(-s / 500),\n"
        "                            'acc': 1 - math.exp(-s / 300)}, step=s)",
        "table = tb.runs_table('curves', refresh_seconds=0.5)\ntable",
        "chart = tb.curves(['loss', 'acc'], runs=table, refresh_seconds=0.5)\nchart",
    ]


def trace_names(page: Any) -> list[str]:
    return page.locator('.tb-curve[data-metric="loss"]').evaluate(
        "el => el.data"  # the chart div is plotly's graph div
        ".filter(t => t.showlegend !== false).map(t => t.name)")


def wait_traces(page: Any, n: int) -> None:
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n",
                           arg=[LOSS_TRACES, n])


@pytest.fixture(scope="module")
def nb(lab: Any, page: Any) -> Any:
    with running_notebook(page, lab, "curves", cells, LOSS_TRACES) as p:
        yield p


def test_unselected_table_draws_its_first_rows(nb: Any) -> None:
    wait_traces(nb, N)
    assert sorted(trace_names(nb)) == [f"run-{i}" for i in range(N)]
    assert nb.locator('.tb-curve[data-metric="acc"] .scatterlayer .trace').count() == N
    assert nb.locator(".tb-curve svg.main-svg").count() >= 2


def test_one_trace_per_selected_run_follows_the_table(nb: Any) -> None:
    ids = nb.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.runId)")
    names = nb.locator(f"{ROWS} td:nth-child(2)").all_inner_texts()
    for run_id in ids[:2]:
        nb.locator(f'tr[data-run-id="{run_id}"] input.tb-row-check').check()
    assert sorted(wait_for_kernel_value(nb, "sorted(chart.runs)", sorted(ids[:2]))) \
        == sorted(ids[:2])
    wait_traces(nb, 2)
    assert sorted(trace_names(nb)) == sorted(names[:2])
    screenshot(nb, "curves-selected")

    nb.locator(f'tr[data-run-id="{ids[2]}"] input.tb-row-check').check()
    wait_traces(nb, 3)
    kernel_exec(nb, "table.selected = []")
    wait_traces(nb, N)


def test_points_are_downsampled_and_log_scale_applies(nb: Any) -> None:
    kernel_exec(nb, "chart.resolution = 100")  # 3000 points per series -> at most 200
    nb.wait_for_function("() => { const d = document.querySelector("
                         "'.tb-curve[data-metric=\"loss\"]').data;"
                         " return d.length && d.every(t => t.x.length <= 200); }")
    assert kernel_value(nb, "chart.points()[0].num_rows") <= 200 * N * 2
    kernel_exec(nb, "chart.log_y = True")
    nb.wait_for_function("() => document.querySelector('.tb-curve[data-metric=\"loss\"]')"
                         ".layout.yaxis.type === 'log'")
    screenshot(nb, "curves-log")
    kernel_exec(nb, "chart.log_y = False; chart.resolution = 1000")


def test_a_running_run_grows_without_rerunning_the_cell(nb: Any) -> None:
    def live_points() -> int:
        return nb.locator('.tb-curve[data-metric="loss"]').evaluate(
            "el => (el.data.find(t => t.name === 'live') || {x: []}).x.length")

    kernel_exec(nb, "live = tb.start_run(run_name='live')\n"
                    "for s in range(10):\n    tb.log_metric('loss', 5.0 - s / 10, step=s)")
    wait_traces(nb, N + 1)  # the table (followed while nothing is selected) shows the run
    nb.wait_for_function("() => { const t = document.querySelector("
                         "'.tb-curve[data-metric=\"loss\"]').data.find(t => t.name === 'live');"
                         " return t && t.x.length === 10; }")
    kernel_exec(nb, "for s in range(10, 25):\n    tb.log_metric('loss', 5.0 - s / 10, step=s)")
    nb.wait_for_function("() => document.querySelector('.tb-curve[data-metric=\"loss\"]')"
                         ".data.find(t => t.name === 'live').x.length === 25")
    assert live_points() == 25
    kernel_exec(nb, "tb.end_run()")
