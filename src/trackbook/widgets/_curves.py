"""The learning-curves widget: plotly lines of metrics over runs, down-sampled in DuckDB."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import traitlets

from .._errors import InvalidValueError
from ..tracking.uri import get_store
from . import _curves_query as cq
from . import _runs_query as q
from ._base import TrackbookWidget
from ._table import RunsTable

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..store.store import Store

#: Runs drawn when following a table whose selection is empty (its first rows).
UNSELECTED_RUNS = 10


class Curves(TrackbookWidget):
    """Learning curves of one or more metrics, one line per run, live.

    Create it with :func:`curves`. Each (run, metric) series is down-sampled in DuckDB to
    at most ``2 * resolution`` points (min and max per bucket, so spikes survive) before
    it leaves the kernel; smoothing and log scale are applied in the browser.
    """

    _bundle_name = "curves"

    metrics = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    """Metric keys, one plot each."""

    runs = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    """Run ids drawn. Following a table, this is its selection."""

    x_axis = traitlets.Enum(cq.X_AXES, default_value="step").tag(sync=True)
    """x axis: ``"step"``, ``"time"`` (wall clock) or ``"relative"`` (seconds since start)."""

    smoothing = traitlets.Float(0.0).tag(sync=True)
    """Exponential-moving-average weight in [0, 1) applied in the browser (0: raw)."""

    log_y = traitlets.Bool(False).tag(sync=True)
    """Logarithmic y axis."""

    resolution = traitlets.Int(1000).tag(sync=True)
    """Buckets per series (each keeps its min and max point)."""

    max_points = traitlets.Int(50_000).tag(sync=True)
    """Upper bound on the points sent per refresh, over all series."""

    refresh_seconds = traitlets.Float(2.0).tag(sync=True)
    """How often the view checks the store for new points; 0 turns live refresh off."""

    def __init__(self, store: Store | None = None, table: RunsTable | None = None,
                 **kwargs: Any) -> None:
        self._store = store if store is not None else get_store()
        self._table = table
        self._prefetched: _Prefetch | None = None
        super().__init__(**kwargs)
        if table is not None:
            self.runs = list(table.selected)
            self._link = traitlets.dlink((table, "selected"), (self, "runs"))

    @traitlets.validate("smoothing")
    def _check_smoothing(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not 0 <= value < 1:
            raise traitlets.TraitError(f"smoothing must be in [0, 1), got {value}")
        return value

    @traitlets.validate("resolution", "max_points")
    def _check_positive(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if value < 1:
            raise traitlets.TraitError(f"{proposal['trait'].name} must be >= 1, got {value}")
        return value

    def run_ids(self, con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
        """The runs drawn: :attr:`runs`, or the table's first rows when nothing is selected."""
        if self.runs or self._table is None:
            return list(self.runs)
        if con is None:
            with self._store.connect() as own:
                return self.run_ids(own)
        t = self._table
        rows, _ = q.fetch_page(con, t._scope, t.filter, t.sort, [], 0, UNSELECTED_RUNS)
        return rows[q.ID_COLUMN].to_pylist()

    def points(self, x_axis: str | None = None) -> tuple[pa.Table, int]:
        """The down-sampled points the view draws, and the buckets per series used."""
        ids = self.run_ids()
        buckets = cq.buckets_for(len(ids) * len(self.metrics), self.resolution, self.max_points)
        x = x_axis or self.x_axis
        return cq.downsample(self._store, ids, self.metrics, x, buckets), buckets

    # -- requests from the browser -----------------------------------------------------------

    def _req_data(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        self._store.session.flush_all()
        x_axis = str(msg.get("x_axis") or self.x_axis)
        if x_axis not in cq.X_AXES:
            raise InvalidValueError(f"x_axis must be one of {', '.join(cq.X_AXES)}; "
                                    f"got {x_axis!r}")
        pending, self._prefetched = self._prefetched, None
        if pending is not None and pending.key == self._data_key(x_axis):
            answer = pending.result()
        else:
            answer = self._data(x_axis)
        self.error = ""
        return answer

    def _data(self, x_axis: str) -> tuple[dict[str, Any], list[bytes]]:
        """The data reply: run labels, series and the packed points."""
        # One short catalog read for the whole answer; the points are read from the
        # Parquet files afterwards, with the catalog closed.
        with self._store.connect() as con:
            ids = self.run_ids(con)
            labels = cq.run_labels(con, ids)
            files = cq.metric_files(con, self._store, ids)
        buckets = cq.buckets_for(len(ids) * len(self.metrics), self.resolution, self.max_points)
        table = cq.downsample(self._store, ids, self.metrics, x_axis, buckets, files=files)
        meta, ipc = cq.wire_format(table)
        return ({"runs": labels, "metrics": list(self.metrics), "x_axis": x_axis,
                 "buckets": buckets, "points": table.num_rows, **meta}, [ipc])

    def _data_key(self, x_axis: str) -> tuple[Any, ...]:
        """What a data reply depends on (the store's change token included)."""
        t = self._table if not self.runs else None
        return (x_axis, tuple(self.runs), tuple(self.metrics), self.resolution,
                self.max_points, (t.filter, repr(t.sort)) if t is not None else None,
                q.store_version(self._store))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # Being displayed: start crunching the points now, while the browser loads the
        # view (and plotly); its first data request then picks the result up.
        self._store.session.flush_all()
        self._prefetched = _Prefetch(self._data_key(self.x_axis),
                                     lambda: self._data(self.x_axis))
        return super()._repr_mimebundle_(**kwargs)

    def _req_version(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        self._store.session.flush_all()
        return {"version": q.store_version(self._store)}, []

    # -- fallbacks ---------------------------------------------------------------------------

    def _summary(self) -> list[tuple[str, str, int, float, float, float]]:
        """(run name, metric, points, last, min, max) per series, from the catalog."""
        if not self.metrics:
            return []
        with self._store.connect() as con:
            ids = self.run_ids(con)
            if not ids:
                return []
            return con.execute(
                "SELECT coalesce(r.run_name, r.run_id), m.key, m.count, m.value, m.min, m.max "
                "FROM latest_metrics m JOIN runs r USING (run_id) "
                "WHERE m.run_id IN (SELECT unnest(?::VARCHAR[])) "
                "AND m.key IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1, 2",
                [ids, list(self.metrics)]).fetchall()

    def _repr_html_(self) -> str:
        try:
            rows = self._summary()
        except Exception as exc:
            return f"<pre>error: {html.escape(str(exc))}</pre>"
        head = "".join(f"<th>{h}</th>" for h in ("run", "metric", "points", "last", "min",
                                                 "max"))
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r)
                       + "</tr>" for r in rows)
        return (f'<table class="trackbook-curves"><caption>learning curves</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def __repr__(self) -> str:
        try:
            rows = self._summary()
        except Exception as exc:
            return f"Curves(error: {exc})"
        lines = [f"Curves({', '.join(self.metrics)}; {len(rows)} series)"]
        lines += [f"  {r[0]}  {r[1]}: last {_fmt(r[3])}, min {_fmt(r[4])}, max {_fmt(r[5])}"
                  f" ({r[2]} points)" for r in rows]
        return "\n".join(lines)


class _Prefetch:
    """A data reply computed on a background thread; ``result()`` waits for it and
    re-raises its error, if any."""

    def __init__(self, key: tuple[Any, ...],
                 compute: Callable[[], tuple[dict[str, Any], list[bytes]]]) -> None:
        self.key = key
        self._compute = compute
        self._answer: tuple[dict[str, Any], list[bytes]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="trackbook-curves-prefetch",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._answer = self._compute()
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc

    def result(self) -> tuple[dict[str, Any], list[bytes]]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._answer is not None
        return self._answer


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def curves(metrics: str | Sequence[str], runs: RunsTable | Sequence[str] | None = None, *,
           x: str = "step", tracking_uri: str | None = None, **kwargs: Any) -> Curves:
    """Learning curves of ``metrics``, one line per run, updating while runs progress.

    Parameters
    ----------
    metrics : str or list of str
        Metric keys, e.g. ``["train_loss", "val_loss"]`` (one plot each).
    runs : RunsTable or list of str, optional
        A run table to follow (its ticked runs are drawn, or its first rows while none
        is ticked) or explicit run ids.
    x : {"step", "time", "relative"}
        The x axis.
    tracking_uri : str, optional
        Another store than the current tracking URI (ignored when following a table).
    **kwargs
        Initial widget state: ``smoothing``, ``log_y``, ``resolution``, ``max_points``
        (default 50,000: about 1.2 MB per refresh),
        ``refresh_seconds``.

    Examples
    --------
    >>> table = tb.runs_table("churn")                        # doctest: +SKIP
    >>> tb.curves(["train_loss", "val_loss"], runs=table)     # doctest: +SKIP
    """
    keys = [metrics] if isinstance(metrics, str) else list(metrics)
    if not keys:
        raise InvalidValueError("curves needs at least one metric key")
    if isinstance(runs, RunsTable):
        return Curves(store=runs._store, table=runs, metrics=keys, x_axis=x, **kwargs)
    if isinstance(runs, str):
        runs = [runs]
    return Curves(store=get_store(tracking_uri), metrics=keys, runs=list(runs or []),
                  x_axis=x, **kwargs)
