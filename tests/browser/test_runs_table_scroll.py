"""The run table appends rows as the user scrolls (quak's model), in a real browser.

Deterministic: every step waits for a row count, never for a time.
"""

from __future__ import annotations

from typing import Any

import pytest
from lab_driver import (
    kernel_exec,
    kernel_value,
    running_notebook,
    wait_for_kernel_value,
)

N = 150
PAGE = 20
ROWS = ".tb-runs-table tbody tr[data-run-id]"


def cells(store: str) -> list[str]:
    return [
        "import trackbook as tb\n"
        f"tb.set_tracking_uri({store!r})\n"
        "tb.set_experiment('scroll')\n"
        f"for i in range({N}):\n"
        "    with tb.start_run(run_name=f'run-{i:03d}'):\n"
        "        tb.log_metric('acc', (i * 37 % 101) / 100)",
        f"table = tb.runs_table(page_size={PAGE}, refresh_seconds=0,"
        " sort=['metrics.acc DESC'])\ntable",
    ]


def row_ids(page: Any) -> list[str]:
    return page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.runId)")


def n_rows(page: Any) -> int:
    return int(page.evaluate(f"() => document.querySelectorAll('{ROWS}').length"))


def wait_more_than(page: Any, n: int) -> None:
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length > n",
                           arg=[ROWS, n])


def expected_order(page: Any) -> list[str]:
    """Every run id in the table's order, computed in the kernel by DuckDB."""
    return kernel_value(page, f"table.page(0, {N})[0]['__run_id'].to_pylist()")


def wait_idle(page: Any) -> None:
    """No page request in flight (the widget marks itself busy while one is)."""
    page.wait_for_function("() => !document.querySelector('.tb-runs').dataset.busy")


def scroll_to_bottom(page: Any) -> None:
    page.locator(".tb-scroll").evaluate("el => { el.scrollTop = el.scrollHeight; }")


@pytest.fixture(scope="module")
def nb(lab: Any, page: Any) -> Any:
    with running_notebook(page, lab, "scroll", cells, ROWS) as p:
        yield p


def test_first_pages_fill_the_view_but_not_more(nb: Any) -> None:
    # the view holds ~19 rows; pages are fetched until 20 more wait below it
    wait_idle(nb)
    loaded = n_rows(nb)
    assert loaded % PAGE == 0
    assert PAGE < loaded < N
    assert row_ids(nb) == expected_order(nb)[:loaded]
    assert nb.locator(".tb-loaded").inner_text().startswith(f"{loaded} loaded")
    heights = nb.locator(ROWS).evaluate_all("rows => [...new Set(rows.map(r => r.offsetHeight))]")
    assert len(heights) == 1  # fixed row height


def test_scrolling_appends_pages_in_order_until_all_are_loaded(nb: Any) -> None:
    expected = expected_order(nb)
    while (loaded := n_rows(nb)) < N:
        scroll_to_bottom(nb)
        wait_more_than(nb, loaded)
    assert row_ids(nb) == expected  # every run once, in DuckDB's order
    assert nb.locator(".tb-loaded").inner_text() == ""
    scroll_to_bottom(nb)
    wait_idle(nb)
    assert n_rows(nb) == N


def test_sorting_starts_again_from_the_top(nb: Any) -> None:
    nb.locator('th[data-col="attributes.run_name"]').click()
    want = [{"column": "attributes.run_name", "desc": False}]
    assert wait_for_kernel_value(nb, "table.sort", want) == want
    nb.wait_for_function("sel => document.querySelector(sel)?.textContent.includes('run-000')",
                         arg=f"{ROWS}:first-child")
    assert nb.locator(".tb-scroll").evaluate("el => el.scrollTop") == 0
    loaded = n_rows(nb)
    assert loaded < N
    assert row_ids(nb) == expected_order(nb)[:loaded]
    kernel_exec(nb, "table.sort = ['metrics.acc DESC']")
