"""The comparison widget: parallel coordinates and a param-vs-metric scatter of a table's runs.

It shows the runs the table matches (its filter and sort, up to ``max_runs``) and shares
the table's selection both ways: clicking a line or a point ticks the run in the table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import traitlets

from .._errors import InvalidValueError
from . import _runs_query as q
from ._base import TrackbookWidget
from ._html import column_label, format_value
from ._table import RunsTable

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_MAX_AXES = 6


class Compare(TrackbookWidget):
    """Parallel coordinates over ``params`` and ``metric``, and a scatter of ``x`` vs it.

    Create it with :func:`compare`. Values of each axis are numbers when every run's value
    parses as one (log scale when they span two decades or more), categories otherwise.
    """

    _bundle_name = "compare"

    params = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    """Axes of the parallel coordinates (``params.lr``, ``metrics.loss``, ...)."""

    metric = traitlets.Unicode("").tag(sync=True)
    """The column the runs are coloured by and the scatter's y (``metrics.acc``)."""

    x = traitlets.Unicode("").tag(sync=True)
    """The scatter's x column (default: the first of ``params``)."""

    selected = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    """Ticked run ids, shared with the table."""

    max_runs = traitlets.Int(1000).tag(sync=True)
    """At most this many of the table's runs (in its order) are drawn."""

    refresh_seconds = traitlets.Float(2.0).tag(sync=True)
    """How often the view checks the store for changes; 0 turns live refresh off."""

    def __init__(self, table: RunsTable, **kwargs: Any) -> None:
        self._table = table
        super().__init__(**kwargs)
        self.selected = list(table.selected)
        self._link = traitlets.link((table, "selected"), (self, "selected"))
        self._table.observe(self._table_changed, names=["filter", "sort"])

    def _table_changed(self, _change: Any) -> None:
        self.send({"type": "refresh"})  # the view asks for data again

    @traitlets.validate("params")
    def _check_params(self, proposal: dict[str, Any]) -> list[str]:
        for c in proposal["value"]:
            q.parse_column(c)
        return list(proposal["value"])

    @traitlets.validate("metric", "x")
    def _check_column(self, proposal: dict[str, Any]) -> str:
        if proposal["value"]:
            q.parse_column(proposal["value"])
        return str(proposal["value"])

    def columns(self) -> list[str]:
        """Run name, then the axes and the metric, without repeats."""
        cols = ["attributes.run_name", *self.params, self.metric, self.x]
        return list(dict.fromkeys(c for c in cols if c))

    def rows(self) -> tuple[pa.Table, int]:
        """The runs drawn (Arrow, the table's order) and how many the table matches."""
        t = self._table
        with t._store.connect() as con:
            return q.fetch_page(con, t._scope, t.filter, t.sort, self.columns(), 0,
                                self.max_runs)

    def _req_data(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        self._table._store.session.flush_all()
        table, total = self.rows()
        self.error = ""
        return ({"total": total, "params": list(self.params), "metric": self.metric,
                 "x": self.x or (self.params[0] if self.params else "")}, [q.to_ipc(table)])

    def _req_version(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        self._table._store.session.flush_all()
        return {"version": q.store_version(self._table._store)}, []

    def _repr_html_(self) -> str:
        try:
            table, total = self.rows()
        except Exception as exc:
            return f"<pre>error: {html.escape(str(exc))}</pre>"
        cols = [c for c in table.column_names if c != q.ID_COLUMN]
        head = "".join(f"<th>{html.escape(column_label(c))}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(format_value(c, r[c]))}</td>" for c in cols)
            + "</tr>" for r in table.slice(0, 20).to_pylist())
        return (f'<table class="trackbook-compare"><caption>compare {total} runs by '
                f"{html.escape(self.metric)}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")

    def __repr__(self) -> str:
        return (f"Compare(params={self.params!r}, metric={self.metric!r}, "
                f"selected={len(self.selected)} runs)")


def _defaults(table: RunsTable) -> tuple[list[str], str]:
    """Params that differ among the table's runs (up to 6) and its first metric."""
    with table._store.connect() as con:
        infos, _ = q.column_infos(con, table._scope, table.filter)
    params = [c["name"] for c in infos if c["kind"] == "param" and c["differs"]]
    metrics = [c["name"] for c in infos if c["kind"] == "metric"]
    return params[:DEFAULT_MAX_AXES], (metrics[0] if metrics else "")


def compare(table: RunsTable, params: Sequence[str] | None = None, metric: str | None = None,
            **kwargs: Any) -> Compare:
    """Compare a run table's runs: parallel coordinates and a param-vs-metric scatter.

    Parameters
    ----------
    table : RunsTable
        The table whose runs (filter, order) are compared; selections are shared.
    params : list of str, optional
        Axes, as column names (``"params.lr"``) or bare param keys (``"lr"``). Default:
        the params whose values differ among the runs (up to 6).
    metric : str, optional
        ``"metrics.acc"`` or ``"acc"``; default: the first metric in scope.
    **kwargs
        Initial widget state: ``x``, ``max_runs``, ``refresh_seconds``.

    Examples
    --------
    >>> table = tb.runs_table("churn")                       # doctest: +SKIP
    >>> tb.compare(table, ["lr", "depth"], "val_auc")        # doctest: +SKIP
    """
    if not isinstance(table, RunsTable):
        raise InvalidValueError(f"compare needs a RunsTable (tb.runs_table(...)), got "
                                f"{type(table).__name__}")
    default_params, default_metric = _defaults(table) if params is None or not metric \
        else ([], "")
    axes = [p if "." in p and p.split(".", 1)[0] in ("params", "metrics", "tags",
                                                       "attributes") else f"params.{p}"
            for p in (params if params is not None else default_params)]
    chosen = metric or default_metric
    if chosen and not chosen.startswith("metrics."):
        chosen = f"metrics.{chosen}"
    return Compare(table, params=axes, metric=chosen, **kwargs)
