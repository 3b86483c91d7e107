"""Plain-text tables for terminals: fit columns to a width, humanize times and sizes.

Used by the ``trackbook`` command line; nothing here imports pandas or DuckDB.
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Column", "human_bytes", "human_duration", "human_time", "is_missing", "render",
           "run_columns", "text_width"]

ELLIPSIS = "…"
GAP = "  "
RUN_HEADERS = {"run_id": "RUN", "run_name": "NAME", "experiment_id": "EXPERIMENT",
               "status": "STATUS", "start_time": "STARTED", "end_time": "ENDED",
               "duration": "DURATION", "artifact_uri": "ARTIFACTS"}


@dataclass(frozen=True)
class Column:
    """A table column.

    Parameters
    ----------
    header
        The column title.
    cells
        One string per row (already formatted).
    right
        Right-align (numbers).
    max_width
        Longer cells are cut and end with an ellipsis.
    group
        A label shown once above a run of adjacent columns with the same group
        (e.g. ``"metrics"``, ``"params"``).
    """

    header: str
    cells: list[str]
    right: bool = False
    max_width: int = 40
    group: str = ""


def text_width(text: str) -> int:
    """Display width of ``text`` in a terminal (wide East Asian characters count 2)."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def clip(text: str, width: int) -> str:
    """Cut ``text`` to at most ``width`` display columns, marking the cut with an ellipsis."""
    text = text.replace("\n", " ").replace("\t", " ")
    if text_width(text) <= width:
        return text
    out, used = [], 0
    for c in text:
        w = text_width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + ELLIPSIS


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - text_width(text))
    return fill + text if right else text + fill


def render(columns: list[Column], width: int | None = None) -> tuple[list[str], list[str]]:
    """Lay ``columns`` out as text lines that fit in ``width`` display columns.

    Columns are kept left to right while they fit; the first one always shows.
    ``width=None`` (or 0) means no limit.

    Returns
    -------
    tuple of (list of str, list of str)
        The lines (group labels and headers first) and the headers of the columns that
        did not fit.
    """
    width = width or None
    widths = []
    for col in columns:
        cap = max(col.max_width, 1)
        w = max([text_width(col.header), *(text_width(c) for c in col.cells)])
        widths.append(max(min(w, cap), 1))
    _fit_group_labels(columns, widths)
    shown: list[int] = []
    used = 0
    for i, w in enumerate(widths):
        need = w + (len(GAP) if shown else 0)
        if shown and width is not None and used + need > width:
            break
        shown.append(i)
        used += need
    if width is not None and shown and used > width:  # only the first column, too wide
        widths[shown[0]] = max(width, 1)
    hidden = [columns[i].header for i in range(len(columns)) if i not in shown]
    nrows = max((len(c.cells) for c in columns), default=0)
    lines = _group_line(columns, widths, shown)
    lines.append(GAP.join(_pad(clip(columns[i].header, widths[i]), widths[i], columns[i].right)
                          for i in shown).rstrip())
    for r in range(nrows):
        cells = []
        for i in shown:
            col = columns[i]
            text = col.cells[r] if r < len(col.cells) else ""
            cells.append(_pad(clip(text, widths[i]), widths[i], col.right))
        lines.append(GAP.join(cells).rstrip())
    return lines, hidden


def _fit_group_labels(columns: list[Column], widths: list[int]) -> None:
    """Widen the last column of each group run so the group label fits above it."""
    start = 0
    for i in range(1, len(columns) + 1):
        if i == len(columns) or columns[i].group != columns[start].group:
            label = text_width(columns[start].group)
            span = sum(widths[start:i]) + len(GAP) * (i - start - 1)
            if label > span:
                widths[i - 1] += label - span
            start = i


def _group_line(columns: list[Column], widths: list[int], shown: list[int]) -> list[str]:
    """The line of group labels, each left-aligned over its run of columns (or none)."""
    if not any(columns[i].group for i in shown):
        return []
    spans: list[tuple[str, int]] = []  # (label, width) per run of equal groups
    for i in shown:
        w = widths[i] + (len(GAP) if spans else 0)
        if spans and columns[i].group == spans[-1][0]:
            spans[-1] = (spans[-1][0], spans[-1][1] + w)
        else:
            spans.append((columns[i].group, w))
    parts = []
    for n, (label, w) in enumerate(spans):
        lead = len(GAP) if n else 0
        parts.append(" " * lead + _pad(clip(label, w - lead), w - lead, False))
    return ["".join(parts).rstrip()]


def human_time(ms: float | None, now_ms: float | None = None) -> str:
    """``"just now"``, ``"5m ago"``, ``"3h ago"``, ``"2d ago"``, then a local date."""
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return ""
    now = time.time() * 1000 if now_ms is None else now_ms
    ago = (now - ms) / 1000
    if -60 < ago < 10:
        return "just now"
    if 0 <= ago < 60:
        return f"{int(ago)}s ago"
    if 0 <= ago < 3600:
        return f"{int(ago // 60)}m ago"
    if 0 <= ago < 86400:
        return f"{int(ago // 3600)}h ago"
    if 0 <= ago < 7 * 86400:
        return f"{int(ago // 86400)}d ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))


def human_duration(seconds: float | None) -> str:
    """``"850ms"``, ``"42s"``, ``"3m 05s"``, ``"2h 10m"``, ``"3d 4h"``."""
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return ""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def human_bytes(n: int) -> str:
    """``"512 B"``, ``"1.5 kB"``, ``"20.0 MB"`` (powers of 1000, as ``du --si``)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def is_missing(value: Any) -> bool:
    """None, NaN or NaT (a cell with nothing to show)."""
    if value is None or isinstance(value, str):
        return value is None
    import pandas as pd

    return bool(pd.isna(value))


def number(value: Any) -> str:
    """A metric value in 5 significant digits (``""`` when missing)."""
    if is_missing(value):
        return ""
    try:
        return format(float(value), ".5g")
    except (TypeError, ValueError):
        return str(value)


def run_columns(frame: pd.DataFrame, keys: list[str],
                experiment_names: Mapping[str, str] | None = None,
                now: float | None = None) -> list[Column]:
    """Table columns for runs from a ``search_runs`` DataFrame.

    Parameters
    ----------
    frame
        MLflow-shaped runs (``run_id``, ``run_name``, ``status``, ``start_time``, ...,
        ``metrics.*``, ``params.*``, ``tags.*``).
    keys
        Frame columns to show, in order; ``"duration"`` is computed (a RUNNING run's
        duration runs until ``now``). Keys the frame lacks give empty columns.
    experiment_names
        Experiment id -> name, for the ``experiment_id`` column.
    now
        Seconds since the epoch (default: the clock).
    """
    now = time.time() if now is None else now
    names = experiment_names or {}
    n = len(frame)
    columns = []
    for key in keys:
        right, width = False, 40
        values = list(frame[key]) if key in frame.columns else [None] * n
        if key == "run_id":
            cells = [str(v)[:8] for v in values]
        elif key in ("start_time", "end_time"):
            cells = [human_time(None if is_missing(v) else v.timestamp() * 1000)
                     for v in values]
        elif key == "duration":
            right, cells = True, []
            for start, end, status in zip(frame["start_time"], frame["end_time"],
                                          frame["status"], strict=True):
                stop = end.timestamp() if not is_missing(end) else (
                    now if status == "RUNNING" else None)
                cells.append(human_duration(None if is_missing(start) or stop is None
                                            else stop - start.timestamp()))
        elif key == "experiment_id":
            cells = [names.get(v, v) for v in values]
        elif key.startswith("metrics."):
            right, cells = True, [number(v) for v in values]
        else:
            width, cells = 24, ["" if is_missing(v) else str(v) for v in values]
        header, group = RUN_HEADERS.get(key, key), ""
        if key.startswith(("metrics.", "params.", "tags.")):
            group, header = key.split(".", 1)  # the group label above says which
        columns.append(Column(header, cells, right, width, group))
    return columns
