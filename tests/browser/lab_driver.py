"""Playwright helpers that drive JupyterLab through ``window.jupyterapp``
(available because LabServer starts lab with --LabApp.expose_app_in_browser).
Adapted from shared/recipes/browser-widget-test/lab_driver.py."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # needed as root / in containers
    "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",  # docker's 64 MB /dev/shm crashes tabs otherwise
]


def make_notebook(path: Path, cells: list[str], kernel: str = "python3") -> None:
    """Write a notebook whose code cells are ``cells``. The kernelspec matters:
    without it JupyterLab shows a 'Select Kernel' dialog instead of starting one."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


def open_notebook(page: Any, lab: Any, path: str) -> None:
    """Open ``path`` and wait until its kernel is started and idle."""
    page.goto(lab.lab_url(path, workspace=Path(path).stem.replace("_", "-")))
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    page.evaluate("""async () => {
        const nb = window.jupyterapp.shell.currentWidget;
        await nb.context.ready;
        await nb.sessionContext.ready;
    }""")


@contextlib.contextmanager
def running_notebook(page: Any, lab: Any, name: str, cells: Callable[[str], list[str]],
                     ready: str) -> Iterator[Any]:
    """Write ``<name>.ipynb`` from ``cells(<its store path>)``, open it, run every cell and
    wait for the ``ready`` selector; at exit shut the kernel down and fail on JS errors."""
    make_notebook(lab.root_dir / f"{name}.ipynb", cells(str(lab.root_dir / f"{name}-store")))
    open_notebook(page, lab, f"{name}.ipynb")
    run_all_cells(page)
    page.locator(ready).first.wait_for()
    yield page
    shutdown_kernel(page)
    assert not page.js_errors, page.js_errors


def change_theme(page: Any, theme: str) -> None:
    """Switch JupyterLab to ``theme`` and return once it applies and the splash is gone.

    A theme change shows JupyterLab's splash and removes it 200 ms after the change; a second
    change inside that window makes JupyterLab's removal timer run twice, and the second run
    throws a ``removeChild`` page error. Waiting for the splash to go keeps changes apart."""
    light = "false" if "Dark" in theme else "true"
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', "
                  "{theme})", theme)
    page.wait_for_function("(light) => document.body.dataset.jpThemeLight === light", arg=light)
    page.wait_for_function("() => !document.getElementById('jupyterlab-splash')")


def shutdown_kernel(page: Any) -> None:
    """Stop the open notebook's kernel (frees a core for the next test module)."""
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")


def run_all_cells(page: Any) -> None:
    """Run all cells; returns once execution finished. Fails if a cell raised."""
    ok = page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    assert ok, "a notebook cell raised an exception"


def kernel_exec(page: Any, code: str) -> str:
    """Run ``code`` in the open notebook's kernel; return its stdout (and error text)."""
    return str(page.evaluate("""async (code) => {
        const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
        const future = kernel.requestExecute({ code, store_history: false });
        let out = "";
        future.onIOPub = (msg) => {
            const t = msg.header.msg_type;
            if (t === "stream") out += msg.content.text;
            if (t === "error") out += `${msg.content.ename}: ${msg.content.evalue}`;
        };
        await future.done;
        return out;
    }""", code))


def kernel_value(page: Any, expr: str) -> Any:
    """Evaluate a JSON-serialisable Python expression in the kernel."""
    out = kernel_exec(page, f"import json as _json; print(_json.dumps({expr}))")
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError(f"kernel said: {out}") from None


def poll_kernel(page: Any, expr: str, done: Callable[[Any], bool], timeout: float = 15) -> Any:
    """Poll ``expr`` until ``done(value)``; return the last value (widget comm messages are
    not ordered with respect to execute requests: they arrive on a kernel subshell)."""
    deadline = time.monotonic() + timeout
    while True:
        value = kernel_value(page, expr)
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def wait_for_kernel_value(page: Any, expr: str, expected: Any, timeout: float = 15) -> Any:
    """Poll ``expr`` until it equals ``expected``; return the last value."""
    return poll_kernel(page, expr, lambda v: v == expected, timeout)


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot as ``test-artifacts/<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
