"""Message shapes exchanged between the widgets' Python and JavaScript sides.

Every request from the browser is ``{"type": <kind>, "id": <request id>, ...}``; every
answer is a :class:`Reply` with the same ``id``, plus binary buffers (Arrow IPC streams)
where rows or points travel. The TypeScript side declares the same shapes in ``js/src``.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class SortKey(TypedDict):
    """One sort key of the run table: a column name and its direction."""

    column: str
    desc: bool


class ColumnInfo(TypedDict):
    """A column the run table can show (for the column picker)."""

    name: str  # "attributes.status", "params.lr", "metrics.acc", "tags.team"
    kind: Literal["attribute", "param", "metric", "tag"]
    differs: bool  # False when every run in scope has the same value


class PageRequest(TypedDict):
    """Ask for one page of runs; the reply carries an Arrow IPC stream of the rows."""

    type: Literal["page"]
    id: str
    offset: int
    limit: int
    sort: NotRequired[list[SortKey]]
    filter: NotRequired[str]
    columns: NotRequired[list[str]]


class ColumnsRequest(TypedDict):
    """Ask for every column available under ``filter``."""

    type: Literal["columns"]
    id: str
    filter: NotRequired[str]


class VersionRequest(TypedDict):
    """Ask for a token that changes whenever the store changes (live refresh)."""

    type: Literal["version"]
    id: str


class RunRequest(TypedDict):
    """Ask for one run's details (the run table's detail pane)."""

    type: Literal["run"]
    id: str
    run_id: str


class ArtifactEntry(TypedDict):
    """A file in a run's artifacts; images carry a preview in the reply's buffers."""

    path: str  # relative to the run's artifact root, "/"-separated
    size: int
    mime: NotRequired[str]  # set for previewable images
    preview: NotRequired[int]  # index of the image bytes in the reply's buffers


class RunDetail(TypedDict):
    """Everything the detail pane shows about a run."""

    run_id: str
    run_name: str | None
    status: str
    experiment_id: str
    user_id: str | None
    start_time: int | None
    end_time: int | None
    params: list[tuple[str, str]]  # sorted by key
    metrics: list[tuple[str, float]]  # latest values, sorted by key
    tags: list[tuple[str, str]]  # sorted by key
    artifacts: list[ArtifactEntry]
    artifacts_truncated: bool  # more files than the pane lists


class Reply(TypedDict, total=False):
    """The answer to any request; ``error`` is set when ``ok`` is False."""

    type: Literal["reply"]
    id: str
    ok: bool
    error: str
    ms: float  # kernel time spent on the answer (ok replies)
    total: int  # page: runs matching the filter
    offset: int  # page: offset of the first row
    columns: list[ColumnInfo] | list[str]  # columns: picker entries
    version: str  # version: the store's change token
    run: RunDetail  # run: the detail pane's content
    extra: dict[str, Any]


#: Name of the run id column in every page of rows (not a displayable column).
ID_COLUMN = "__run_id"
