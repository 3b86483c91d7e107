"""Load what a widget's first answer needs while the user is still typing.

A fresh kernel's first widget display spends ~0.7 s importing pyarrow, numpy and DuckDB
(measured with cProfile on the 2-core test machine). Whoever imports the widgets is about
to display one, so a background thread imports them right away; a display that comes
sooner simply waits for the module being imported (Python's import lock), never does the
work twice.
"""

from __future__ import annotations

import atexit
import threading

_thread: threading.Thread | None = None


def _imports() -> None:
    try:
        import duckdb  # noqa: F401
        import pyarrow.compute
        import pyarrow.ipc  # noqa: F401
    except Exception:  # a missing module fails later, where its error means something
        pass


def start() -> None:
    """Start the background imports once per process."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_imports, name="trackbook-warm-up", daemon=True)
        _thread.start()


@atexit.register
def _finish() -> None:
    # An interpreter that exits in the middle of importing an extension module in a
    # daemon thread can crash; a warm-up is never worth that.
    if _thread is not None:
        _thread.join(timeout=10)
