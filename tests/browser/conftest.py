"""Fixtures for the real-browser widget tests: the system chromium driven by Playwright
and one throwaway JupyterLab server, both shared by the whole session.

Skipped only when chromium (Debian package ``chromium``) or the ``playwright`` pip
package is missing -- except under CI (``CI`` set), where that is an error.
Helpers live in ``lab_driver.py``; never import from this file.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_driver import CHROMIUM, CHROMIUM_ARGS

HERE = Path(__file__).parent


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the pip package playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return (f"{CHROMIUM} not found: install the Debian package chromium "
                "(apt-get install chromium)")
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"browser tests cannot run in CI: {reason}")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # launch() adds --headless and a fresh temporary --user-data-dir by itself.
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lab_server import LabServer

    with LabServer(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    """One page per test module (each module opens its own notebook)."""
    # Tall viewport: JupyterLab scrolls inside its own panel, so full_page
    # screenshots only ever show the viewport.
    ctx = browser.new_context(viewport={"width": 1280, "height": 1400})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)  # kernel start + first render on slow CI cores
    pg.js_errors = []
    # With the stack: an error from JupyterLab itself must be told from one of ours.
    pg.on("pageerror", lambda e: pg.js_errors.append(f"{e}\n{getattr(e, 'stack', '')}"))
    yield pg
    ctx.close()
