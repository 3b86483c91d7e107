"""Notebook widgets (anywidget): the run table, learning curves, run comparison and the
model registry.

Importing this package loads anywidget and ipywidgets; ``import trackbook`` does not.
The JavaScript lives in ``js/`` and is bundled into ``trackbook/static/`` at install.
"""

from __future__ import annotations

from . import _warm
from ._compare import Compare, compare
from ._curves import Curves, curves
from ._registry import Registry, registry_panel
from ._table import RunsTable, runs_table

_warm.start()

__all__ = [
    "Compare", "Curves", "Registry", "RunsTable", "compare", "curves", "registry_panel",
    "runs_table",
]
