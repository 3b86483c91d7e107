"""Unit-test fixtures live in tests/conftest.py (``store``/``tb_store``, ``client``); this
file only keeps autolog from leaking from one test into the next."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _autolog_off_afterwards() -> Iterator[None]:
    """Every framework unpatched and autolog off after each test (``tb.autolog()`` turns
    on every installed flavor, which a test's own fixture may not know of)."""
    yield
    if "trackbook.autologging._config" in sys.modules:
        from trackbook.autologging import _config, _patch

        _patch.unpatch_all()
        _config.reset()
