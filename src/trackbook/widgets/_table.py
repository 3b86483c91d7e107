"""The run table widget: sortable, filterable, selectable, live, paged by DuckDB."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import traitlets

from .._errors import FilterSyntaxError
from ..tracking.uri import get_store
from . import _runs_query as q
from ._base import TrackbookWidget
from ._detail import register_logged_model, run_detail
from ._html import html_table, text_table

if TYPE_CHECKING:
    import pyarrow as pa

    from ..store.store import Store

MAX_PAGE_SIZE = 1000
FALLBACK_ROWS = 20
#: How long the first page stays reusable (same store version, filter, sort and columns).
FIRST_PAGE_SECONDS = 10.0
#: Automatic column sets kept, by (store, scope, store version).
AUTO_COLUMNS_CACHE = 32
_AUTO_COLUMNS: dict[tuple[str, q.RunScope, str], list[str]] = {}


class RunsTable(TrackbookWidget):
    """An interactive table of runs; rows are pulled page by page from DuckDB.

    Create it with :func:`runs_table`. Header click sorts (shift-click adds a key), the
    filter box takes the ``search_runs`` grammar, ticked rows land in :attr:`selected`,
    clicking a run name opens its details (:attr:`detail`). More rows are fetched as the
    user scrolls. Runs logged after the table is displayed appear by themselves
    (``refresh_seconds``).

    Examples
    --------
    >>> table = tb.runs_table("churn")          # doctest: +SKIP
    >>> table.observe(lambda ch: print(ch["new"]), names="selected")  # doctest: +SKIP
    """

    _bundle_name = "runs_table"

    sort = traitlets.List(default_value=[]).tag(sync=True)
    """Sort keys, first is primary: ``[{"column": "metrics.acc", "desc": True}, ...]``."""

    filter = traitlets.Unicode("").tag(sync=True)
    """The filter box text, in the ``search_runs`` grammar (ANDed with the fixed filter)."""

    columns = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    """Visible columns (``attributes.status``, ``params.lr``, ...); empty: automatic."""

    only_differing = traitlets.Bool(False).tag(sync=True)
    """Hide param/metric/tag columns whose value is the same in every matching run."""

    selected = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    """Ids of the ticked runs (observable: ``table.observe(cb, names="selected")``)."""

    page_size = traitlets.Int(50).tag(sync=True)
    """Rows fetched per request as the user scrolls down (1 to 1000)."""

    detail = traitlets.Unicode("").tag(sync=True)
    """Run id shown in the detail pane (set by clicking a run name); empty: pane closed."""

    refresh_seconds = traitlets.Float(2.0).tag(sync=True)
    """How often the view checks the store for changes; 0 turns live refresh off."""

    def __init__(self, store: Store | None = None, scope: q.RunScope | None = None,
                 **kwargs: Any) -> None:
        self._store = store if store is not None else get_store()
        self._scope = scope if scope is not None else q.RunScope()
        self._first_page: tuple[Any, float, pa.Table, int] | None = None
        super().__init__(**kwargs)

    # -- validation --------------------------------------------------------------------------

    @traitlets.validate("sort")
    def _check_sort(self, proposal: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for item in proposal["value"]:
            if isinstance(item, str):  # "metrics.acc DESC" is accepted from Python too
                col, _, direction = item.strip().partition(" ")
                item = {"column": col, "desc": direction.strip().upper() == "DESC"}
            q.parse_column(item.get("column", ""))
            out.append({"column": item["column"], "desc": bool(item.get("desc", False))})
        return out

    @traitlets.validate("columns")
    def _check_columns(self, proposal: dict[str, Any]) -> list[str]:
        for c in proposal["value"]:
            q.parse_column(c)
        return list(proposal["value"])

    @traitlets.validate("page_size")
    def _check_page_size(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if not 1 <= value <= MAX_PAGE_SIZE:
            raise traitlets.TraitError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {value}")
        return value

    # -- requests from the browser -----------------------------------------------------------

    def _flush_own_writes(self) -> None:
        """Runs logged from this kernel sit in a buffer for up to a second: write them now."""
        self._store.session.flush_all()

    def _resolve_columns(self, con: Any, wanted: Sequence[str]) -> list[str]:
        """The requested columns, or the automatic ones (cached until the store changes,
        and shared by the tables of one scope: displaying the table again reuses them)."""
        if wanted:
            return list(wanted)
        key = (str(self._store.root), self._scope, q.store_version(self._store))
        cols = _AUTO_COLUMNS.get(key)
        if cols is None:
            cols = q.default_columns(con, self._scope)
            if len(_AUTO_COLUMNS) >= AUTO_COLUMNS_CACHE:
                _AUTO_COLUMNS.pop(next(iter(_AUTO_COLUMNS)))
            _AUTO_COLUMNS[key] = cols
        return list(cols)

    def _req_page(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        user_filter = str(msg.get("filter", self.filter))
        sort = self._check_sort({"value": msg.get("sort", self.sort)})
        offset = int(msg.get("offset", 0))
        limit = min(int(msg.get("limit", self.page_size)), MAX_PAGE_SIZE)
        self._flush_own_writes()
        wanted = list(msg.get("columns") or self.columns)
        key = (q.store_version(self._store), user_filter, repr(sort), tuple(wanted))
        cached = self._first_page
        try:
            if offset == 0 and cached is not None and cached[0] == key \
                    and time.monotonic() - cached[1] < FIRST_PAGE_SECONDS \
                    and (limit <= cached[2].num_rows or cached[2].num_rows == cached[3]):
                # Displaying the table computed this page for its text/HTML fallback a
                # moment ago; the view's first request gets it without a query.
                table, total = cached[2].slice(0, limit), cached[3]
            else:
                with self._store.connect() as con:
                    cols = self._resolve_columns(con, wanted)
                    table, total = q.fetch_page(con, self._scope, user_filter, sort, cols,
                                                offset, limit)
                if offset == 0:
                    self._first_page = (key, time.monotonic(), table, total)
        except FilterSyntaxError as exc:
            self.error = str(exc)
            raise
        self.error = ""
        return {"total": total, "offset": offset}, [q.to_ipc(table)]

    def _req_columns(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        user_filter = str(msg.get("filter", self.filter))
        with self._store.connect() as con:
            infos, total = q.column_infos(con, self._scope, user_filter)
        return {"columns": infos, "total": total}, []

    def _req_version(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        self._flush_own_writes()
        return {"version": q.store_version(self._store)}, []

    def _req_run(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        self._flush_own_writes()
        detail, buffers = run_detail(self._store, str(msg.get("run_id", "")))
        return {"run": detail}, buffers

    def _req_register(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        """The detail pane's "Register…": a new version of ``msg["name"]`` from the run's
        logged model at ``msg["path"]`` (see ``_detail.RegisterRequest``)."""
        self._flush_own_writes()
        mv = register_logged_model(self._store, msg.get("run_id"), msg.get("path"),
                                   msg.get("name"))
        return {"registered": {"name": mv.name, "version": mv.version, "source": mv.source,
                               "run_id": mv.run_id}}, []

    # -- Python-side access ------------------------------------------------------------------

    def page(self, offset: int = 0, limit: int | None = None) -> tuple[pa.Table, int]:
        """The rows the table shows at ``offset`` (Arrow table) and the number of matches."""
        reply, buffers = self.handle_request({"type": "page", "id": "python", "offset": offset,
                                              "limit": limit or self.page_size})
        if not reply["ok"]:
            raise FilterSyntaxError(reply.get("error", "error"))
        import pyarrow as pa

        return pa.ipc.open_stream(buffers[0]).read_all(), int(reply.get("total", 0))

    def _fallback(self) -> tuple[pa.Table, int] | str:
        try:
            # A whole first page: the view asks for it right after the display.
            table, total = self.page(0, self.page_size)
        except Exception as exc:
            return f"error: {exc}"
        return table.slice(0, FALLBACK_ROWS), total

    def _repr_html_(self) -> str:
        got = self._fallback()
        if isinstance(got, str):
            return f"<pre>{got}</pre>"
        return html_table(*got)

    def __repr__(self) -> str:
        got = self._fallback()
        return f"RunsTable\n{got if isinstance(got, str) else text_table(*got)}"


def runs_table(experiment: str | Sequence[str] | None = None, filter_string: str | None = None,
               experiment_ids: Sequence[str] | None = None, *,
               search_all_experiments: bool = False, tracking_uri: str | None = None,
               **kwargs: Any) -> RunsTable:
    """An interactive, live table of runs for the notebook.

    Parameters
    ----------
    experiment : str or list of str, optional
        Experiment name(s) or id(s). With neither this nor ``experiment_ids``, the table
        shows the current experiment's runs (``tb.current_experiment_id()``, as
        ``search_runs`` does).
    filter_string : str, optional
        A fixed ``search_runs`` filter (e.g. ``"params.model = 'rf'"``); the filter box
        narrows further.
    experiment_ids : list of str, optional
        Experiment ids, as in ``search_runs``.
    search_all_experiments : bool, default False
        Without experiments given, show the runs of every experiment instead of the
        current one.
    tracking_uri : str, optional
        Another store than the current tracking URI. Its "current experiment" is not
        defined, so without experiments given the table shows all of its experiments.
    **kwargs
        Initial widget state: ``sort``, ``filter``, ``columns``, ``only_differing``,
        ``selected``, ``detail``, ``page_size``, ``refresh_seconds``.

    Returns
    -------
    RunsTable
        Display it (last expression of a cell); read ``table.selected``.

    Examples
    --------
    >>> table = tb.runs_table("churn", sort=["metrics.val_auc DESC"])  # doctest: +SKIP
    >>> tb.runs_table()                         # the current experiment  # doctest: +SKIP
    """
    store = get_store(tracking_uri)
    other_store = tracking_uri is not None and store is not get_store()
    scope = q.resolve_scope(store, experiment, experiment_ids, filter_string,
                            search_all_experiments=search_all_experiments or other_store)
    return RunsTable(store=store, scope=scope, **kwargs)
