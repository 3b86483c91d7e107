"""The run table in a real JupyterLab + headless Chromium: render, sort, filter, select,
detail pane, live.

The tests of this module share one notebook (and kernel); each leaves the table with
no filter and no sort, as it found it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from lab_driver import (
    change_theme,
    kernel_exec,
    kernel_value,
    make_notebook,
    open_notebook,
    poll_kernel,
    run_all_cells,
    screenshot,
    shutdown_kernel,
    wait_for_kernel_value,
)

N = 14
ROWS = ".tb-runs-table tbody tr[data-run-id]"
DETAIL = ".tb-detail:not([hidden])"
#: The README's screenshot; refreshed by ``TRACKBOOK_UPDATE_DOCS=1 pytest tests/browser``.
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "runs-table.png"
ARTIFACT_RUN = 3  # run-03 logs a matplotlib figure and an SVG


def cells(store: str) -> list[str]:
    return [
        "import trackbook as tb\n"
        f"tb.set_tracking_uri({store!r})\n"
        "tb.set_experiment('browser')\n"
        f"for i in range({N}):\n"
        "    with tb.start_run(run_name=f'run-{i:02d}'):\n"
        "        tb.log_params({'lr': 10 ** -(i % 4), 'model': 'rf' if i % 3 else 'lin',\n"
        "                       'seed': 7})\n"
        "        tb.log_metric('acc', (i * 37 % 11) / 10)\n"
        "        tb.log_metric('loss', 1 / (i + 1))\n"
        f"        if i == {ARTIFACT_RUN}:\n"
        "            import matplotlib\n"
        "            matplotlib.use('Agg')\n"
        "            import matplotlib.pyplot as plt\n"
        "            fig, ax = plt.subplots(figsize=(4, 2.4), dpi=60)\n"
        "            ax.plot([1 / (s + 1) for s in range(50)], label='loss')\n"
        "            ax.legend()\n"
        "            tb.log_figure(fig, 'plots/loss.png')\n"
        "            tb.log_text('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" '\n"
        "                        'height=\"20\"><rect width=\"40\" height=\"20\" '\n"
        "                        'fill=\"teal\"/></svg>', 'plots/mark.svg')\n"
        "            tb.log_text('seed 7', 'notes.txt')",
        "table = tb.runs_table(refresh_seconds=0.5)  # the current experiment: 'browser'\n"
        "table",
    ]


def row_ids(page: Any) -> list[str]:
    return page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.runId)")


def wait_rows(page: Any, n: int, timeout: float = 15) -> None:
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n",
                           arg=[ROWS, n], timeout=timeout * 1000)


def duckdb_ids(page: Any, order_by: str, where: str = "TRUE") -> list[str]:
    """Run ids of experiment 'browser' in a DuckDB ORDER BY, computed in the kernel."""
    return kernel_value(page, (
        "tb.sql(\"SELECT r.run_id FROM runs r JOIN experiments e USING (experiment_id) "
        "LEFT JOIN latest_metrics m ON m.run_id = r.run_id AND m.key = 'acc' "
        "LEFT JOIN params p ON p.run_id = r.run_id AND p.key = 'model' "
        f"WHERE e.name = 'browser' AND {where} ORDER BY {order_by}\")['run_id'].tolist()"))


@pytest.fixture(scope="module")
def nb(lab: Any, page: Any) -> Any:
    store = lab.root_dir / "table-store"
    make_notebook(lab.root_dir / "runs_table.ipynb", cells(str(store)))
    t0 = time.monotonic()
    open_notebook(page, lab, "runs_table.ipynb")
    run_all_cells(page)
    page.locator(ROWS).first.wait_for()
    print(f"notebook open + run + first rows: {time.monotonic() - t0:.1f}s")
    yield page
    shutdown_kernel(page)
    assert not page.js_errors, page.js_errors


def test_table_renders_every_run(nb: Any) -> None:
    wait_rows(nb, N)
    names = nb.locator(f"{ROWS} td:nth-child(2)").all_inner_texts()
    assert sorted(names) == [f"run-{i:02d}" for i in range(N)]
    assert nb.locator(".tb-badge.FINISHED").count() == N
    assert nb.locator(".tb-count").inner_text().startswith(f"{N} runs")
    screenshot(nb, "runs_table-rendered")


def test_header_click_sorts_like_duckdb(nb: Any) -> None:
    header = nb.locator('th[data-col="metrics.acc"]')
    header.click()
    nb.wait_for_selector('th[data-col="metrics.acc"][aria-sort="ascending"]')
    expected = duckdb_ids(nb, "m.value ASC NULLS LAST, r.start_time DESC, r.run_id")
    nb.wait_for_function("([sel, ids]) => [...document.querySelectorAll(sel)]"
                         ".map(r => r.dataset.runId).join() === ids.join()",
                         arg=[ROWS, expected])
    assert wait_for_kernel_value(nb, "table.sort", [{"column": "metrics.acc", "desc": False}]) \
        == [{"column": "metrics.acc", "desc": False}]

    header.click()  # again: descending
    nb.wait_for_selector('th[data-col="metrics.acc"][aria-sort="descending"]')
    expected = duckdb_ids(nb, "m.value DESC NULLS LAST, r.start_time DESC, r.run_id")
    nb.wait_for_function("([sel, ids]) => [...document.querySelectorAll(sel)]"
                         ".map(r => r.dataset.runId).join() === ids.join()",
                         arg=[ROWS, expected])

    # shift-click adds a second key: params.model first, then acc descending
    nb.locator('th[data-col="params.model"]').click()
    nb.locator('th[data-col="metrics.acc"]').click(modifiers=["Shift"])
    want = [{"column": "params.model", "desc": False}, {"column": "metrics.acc", "desc": False}]
    assert wait_for_kernel_value(nb, "table.sort", want) == want
    expected = duckdb_ids(nb, "p.value ASC NULLS LAST, m.value ASC NULLS LAST, "
                              "r.start_time DESC, r.run_id")
    nb.wait_for_function("([sel, ids]) => [...document.querySelectorAll(sel)]"
                         ".map(r => r.dataset.runId).join() === ids.join()",
                         arg=[ROWS, expected])
    assert row_ids(nb) == expected
    screenshot(nb, "runs_table-sorted")
    kernel_exec(nb, "table.sort = []")


def test_filter_box_narrows_rows_and_shows_syntax_errors(nb: Any) -> None:
    box = nb.locator("input.tb-filter")
    box.fill("params.model = 'lin'")
    box.press("Enter")
    expected = sorted(duckdb_ids(nb, "r.run_id", "p.value = 'lin'"))
    assert len(expected) == 5  # i = 0, 3, 6, 9, 12
    wait_rows(nb, len(expected))
    assert sorted(row_ids(nb)) == expected
    assert wait_for_kernel_value(nb, "table.filter", "params.model = 'lin'") \
        == "params.model = 'lin'"

    box.fill("metrics.acc >")
    box.press("Enter")
    error = nb.locator(".tb-error")
    error.wait_for()
    assert "expected a value" in error.inner_text()
    assert "expected a value" in poll_kernel(nb, "table.error", lambda e: "expected" in e)
    screenshot(nb, "runs_table-filter-error")

    box.fill("")
    box.press("Enter")
    wait_rows(nb, N)
    assert nb.locator(".tb-error").inner_text() == ""


def test_ticked_rows_reach_python(nb: Any) -> None:
    wait_rows(nb, N)
    ids = row_ids(nb)[:3]
    for run_id in ids:
        nb.locator(f'tr[data-run-id="{run_id}"] input.tb-row-check').check()
    assert sorted(wait_for_kernel_value(nb, "sorted(table.selected)", sorted(ids))) \
        == sorted(ids)
    nb.locator(f'tr[data-run-id="{ids[0]}"] input.tb-row-check').uncheck()
    assert wait_for_kernel_value(nb, "sorted(table.selected)", sorted(ids[1:])) \
        == sorted(ids[1:])
    # Python -> browser: clearing the selection unticks the rows
    kernel_exec(nb, "table.selected = []")
    nb.wait_for_function("() => !document.querySelector('input.tb-row-check:checked')")
    screenshot(nb, "runs_table-selected")


def test_column_picker_and_only_differing_toggle(nb: Any) -> None:
    seed = nb.locator('th[data-col="params.seed"]')
    seed.wait_for()  # same value in every run
    nb.locator("input.tb-differ").check()
    seed.wait_for(state="detached")
    assert nb.locator('th[data-col="params.lr"]').count() == 1
    assert wait_for_kernel_value(nb, "table.only_differing", True) is True
    nb.locator("input.tb-differ").uncheck()
    seed.wait_for()

    nb.locator(".tb-columns-btn").click()
    nb.locator('.tb-picker input[data-col="metrics.loss"]').uncheck()
    nb.locator('th[data-col="metrics.loss"]').wait_for(state="detached")
    nb.locator('.tb-picker input[data-col="attributes.run_id"]').check()
    nb.locator('th[data-col="attributes.run_id"]').wait_for()
    columns = poll_kernel(nb, "table.columns", lambda c: "attributes.run_id" in c)
    assert "metrics.loss" not in columns
    assert {"attributes.run_name", "params.lr", "metrics.acc", "attributes.run_id"} <= set(columns)
    screenshot(nb, "runs_table-columns")
    nb.locator(".tb-columns-btn").click()
    kernel_exec(nb, "table.columns = []")
    nb.locator('th[data-col="metrics.loss"]').wait_for()


def test_run_name_click_opens_the_detail_pane(nb: Any) -> None:
    wait_rows(nb, N)
    run_id = kernel_value(nb, f"tb.search_runs(filter_string=\"attributes.run_name = "
                              f"'run-{ARTIFACT_RUN:02d}'\")['run_id'][0]")
    nb.locator(f'tr[data-run-id="{run_id}"] .tb-run-link').click()
    pane = nb.locator(DETAIL)
    pane.locator('.tb-detail-params tr[data-key="model"]').wait_for()
    assert wait_for_kernel_value(nb, "table.detail", run_id) == run_id
    assert pane.locator(".tb-detail-title").inner_text() == f"run-{ARTIFACT_RUN:02d}"
    params = kernel_value(nb, f"tb.get_run({run_id!r}).data.params")
    shown = dict(pane.locator(".tb-detail-params tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))"))
    assert shown == params
    metrics = pane.locator(".tb-detail-metrics tr").evaluate_all(
        "rows => rows.map(r => r.dataset.key)")
    assert metrics == ["acc", "loss"]
    assert pane.locator('.tb-detail-tags tr[data-key="mlflow.runName"]').count() == 1
    # image artifacts are decoded <img>s fed from blob: URLs, never file paths
    for path in ("plots/loss.png", "plots/mark.svg"):
        img = pane.locator(f'img.tb-preview[data-path="{path}"]')
        img.wait_for()
        nb.wait_for_function("el => el.complete && el.naturalWidth > 0",
                             arg=img.element_handle())
        assert img.get_attribute("src").startswith("blob:")
    assert pane.locator('li[data-path="notes.txt"] img').count() == 0
    screenshot(nb, "runs_table-detail")
    shot = screenshot_widget(nb, "runs_table-readme")
    if os.environ.get("TRACKBOOK_UPDATE_DOCS"):
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)

    pane.locator(".tb-detail-close").click()
    nb.locator(".tb-detail[hidden]").wait_for(state="attached")
    assert wait_for_kernel_value(nb, "table.detail", "") == ""

    # Python -> browser: setting the trait opens the pane on that run
    other = row_ids(nb)[0]
    kernel_exec(nb, f"table.detail = {other!r}")
    nb.wait_for_function("id => document.querySelector('.tb-detail:not([hidden])"
                         " .tb-detail-meta')?.title === id", arg=other)
    kernel_exec(nb, "table.detail = ''")
    nb.locator(".tb-detail[hidden]").wait_for(state="attached")


def screenshot_widget(page: Any, name: str) -> Path:
    """A PNG of the table widget alone (what the README shows)."""
    path = screenshot(page, name)  # makes the folder; overwritten below
    page.locator(".tb-runs").screenshot(path=str(path))
    return path


def test_run_logged_after_display_appears_live(nb: Any) -> None:
    wait_rows(nb, N)
    out = kernel_exec(nb, "with tb.start_run(run_name='late-run'):\n"
                          "    tb.log_metric('acc', 0.99)\n")
    assert out == ""
    wait_rows(nb, N + 1)
    assert nb.locator(f"{ROWS} td", has_text="late-run").count() == 1
    screenshot(nb, "runs_table-live")


def test_dark_theme_is_followed(nb: Any) -> None:
    def header_luminance() -> float:
        rgb = nb.locator('th[data-col="attributes.run_name"]').evaluate(
            "el => getComputedStyle(el).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)")
        return sum(rgb) / (3 * 255)

    assert header_luminance() > 0.5
    change_theme(nb, "JupyterLab Dark")
    nb.wait_for_timeout(300)  # the theme's CSS variables apply on the next frames
    assert header_luminance() < 0.5
    screenshot(nb, "runs_table-dark")
    change_theme(nb, "JupyterLab Light")
