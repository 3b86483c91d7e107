"""Static fallbacks of the widgets: an HTML table and a text table of the first rows."""

from __future__ import annotations

import datetime as _dt
import html
import math
from typing import TYPE_CHECKING, Any

from ._protocol import ID_COLUMN

if TYPE_CHECKING:
    import pyarrow as pa


def format_value(column: str, value: Any) -> str:
    """Human text of one cell (times in UTC, metrics with 4 significant digits)."""
    if value is None:
        return ""
    if column in ("attributes.start_time", "attributes.end_time"):
        stamp = _dt.datetime.fromtimestamp(value / 1000, tz=_dt.UTC)
        return stamp.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value != 0 and not math.isinf(value) and not 1e-3 <= abs(value) < 1e6:
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def column_label(column: str) -> str:
    """Header text: attributes without their prefix, other columns in full."""
    return column.split(".", 1)[1] if column.startswith("attributes.") else column


def html_table(table: pa.Table, total: int, title: str = "runs") -> str:
    """An HTML table of ``table``'s rows (minus the id column) with a row-count caption."""
    cols = [c for c in table.column_names if c != ID_COLUMN]
    head = "".join(f"<th>{html.escape(column_label(c))}</th>" for c in cols)
    body = []
    for row in table.to_pylist():
        cells = "".join(f"<td>{html.escape(format_value(c, row[c]))}</td>" for c in cols)
        body.append(f"<tr>{cells}</tr>")
    shown = table.num_rows
    caption = f"{total} {title}" + (f" (first {shown} shown)" if shown < total else "")
    return (f'<table class="trackbook-runs"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def text_table(table: pa.Table, total: int, title: str = "runs", width: int = 24) -> str:
    """A fixed-width text table of ``table``'s rows, for terminals."""
    cols = [c for c in table.column_names if c != ID_COLUMN]
    rows = [[format_value(c, r[c]) for c in cols] for r in table.to_pylist()]

    def clip(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    grid = [[clip(column_label(c)) for c in cols], *[[clip(v) for v in r] for r in rows]]
    widths = [max(len(r[i]) for r in grid) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
             for r in grid]
    shown = table.num_rows
    footer = f"{total} {title}" + (f" (first {shown} shown)" if shown < total else "")
    return "\n".join([*lines, footer])
