"""Progress of long tasks (building an environment, running a sweep) as plain callbacks.

Each task calls a :data:`ProgressCallback` with a :class:`Progress` snapshot. The
defaults draw a text line on stderr outside notebooks and an in-place HTML progress bar
in a notebook; anything else (a widget, a logger) plugs in by passing its own callable
as ``progress=``. This module never imports widgets.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ..tracking.context import in_notebook


@dataclass(frozen=True)
class Progress:
    """A snapshot of a task's progress.

    Attributes
    ----------
    task
        ``"environment"`` or ``"sweep"``.
    title
        What is being done, e.g. ``"virtualenv env 3f2a9c0e"``.
    message
        The current step, e.g. ``"pip install scikit-learn pandas"``.
    done, total
        Steps (or trials) done and expected; ``total`` is None when unknown.
    elapsed
        Seconds since the task started.
    finished, failed
        The task ended (and whether it failed).
    """

    task: str
    title: str
    message: str
    done: int = 0
    total: int | None = None
    elapsed: float = 0.0
    finished: bool = False
    failed: bool = False

    def text(self) -> str:
        count = f" [{self.done}/{self.total}]" if self.total else ""
        return f"{self.title}: {self.message}{count} ({self.elapsed:.0f}s)"


ProgressCallback = Callable[[Progress], None]


def reporter(progress: bool | ProgressCallback | None) -> ProgressCallback:
    """The callback for a ``progress=`` argument: True/None -> the default display,
    False -> nothing, a callable -> itself."""
    if callable(progress):
        return progress
    if progress is False:
        return _silent
    return NotebookReporter() if in_notebook() else TextReporter()


def _silent(_: Progress) -> None:
    return None


class Tracker:
    """Helper for a task: remembers the start time and sends snapshots to a callback."""

    def __init__(self, callback: ProgressCallback, task: str, title: str,
                 total: int | None = None) -> None:
        self.callback, self.task, self.title, self.total = callback, task, title, total
        self.start = time.monotonic()
        self.done = 0

    def update(self, message: str, done: int | None = None, *, finished: bool = False,
               failed: bool = False) -> None:
        if done is not None:
            self.done = done
        self.callback(Progress(self.task, self.title, message, self.done, self.total,
                               time.monotonic() - self.start, finished, failed))


class TextReporter:
    """One status line on a stream: redrawn in place on a terminal, else one line per
    new message (at most one a second, plus the final one)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 1.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._last_time = 0.0
        self._last_message = ""
        self._width = 0

    def __call__(self, event: Progress) -> None:
        line = f"trackbook: {event.text()}"
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        now = time.monotonic()
        if tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad + ("\n" if event.finished else ""))
            self._width = 0 if event.finished else len(line)
        elif event.finished or (event.message != self._last_message
                                and now - self._last_time >= self.interval):
            self.stream.write(line + "\n")
            self._last_time, self._last_message = now, event.message
        self.stream.flush()


class _View:
    """What the notebook shows: a progress bar with the current step."""

    def __init__(self, event: Progress) -> None:
        self.event = event

    def __repr__(self) -> str:
        return self.event.text()

    def _repr_html_(self) -> str:
        e = self.event
        value = f' value="{e.done}" max="{e.total}"' if e.total else ""
        if e.finished and not e.total:
            value = ' value="1" max="1"'
        color = "var(--jp-error-color1, #c62828)" if e.failed else "inherit"
        return (f'<div style="font-family: var(--jp-code-font-family, monospace); '
                f'color: {color}"><progress{value} style="width: 12em"></progress> '
                f"{html.escape(e.text())}</div>")


class NotebookReporter:
    """An HTML progress bar in the output of the cell that started the task, updated in
    place (at most every ``interval`` seconds, plus the final state)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._handle: Any = None
        self._last = 0.0

    def __call__(self, event: Progress) -> None:
        from IPython.display import display

        now = time.monotonic()
        if self._handle is None:
            self._handle = display(_View(event), display_id=True)
            self._last = now
        elif event.finished or now - self._last >= self.interval:
            self._handle.update(_View(event))
            self._last = now
