"""Adaptive micro-batching for the scoring server.

Building a DataFrame and calling scikit-learn's ``predict`` costs about the same for one row
as for fifty (input validation dominates), so the scoring server scores together the
requests that arrive while the model is busy: requests parsed on the event loop are queued,
and one job in a worker thread predicts once for all of them; the loop then answers each
request with its slice. At most one batch is scored at a time, so the requests that arrive
meanwhile make the next batch. A lone request is scored at once; when recent batches held
several requests (concurrent clients), the loop waits a fraction of a scoring time for the
rest. Predicting off the loop keeps ``/ping`` and the other connections answered while a
slow model works.

Rows of plain JSON numbers for a schema whose columns share one numeric type skip pandas:
they become one 2-D array, which a plain scikit-learn model scores directly
(``PyFuncModel.array_scorer``), and other models get as a DataFrame that already matches
the signature (so it is not checked again). Anything else (strings, missing values,
booleans, other columns) goes through ``predict`` with the usual checks and messages.

Only models whose prediction for a row does not depend on the other rows take this path
(``rowwise`` on the loaded flavor: scikit-learn, PyTorch in eval mode; custom PythonModels
opt in with ``rowwise = True``). A failed batch is re-scored request by request, so an error
still goes to the request that caused it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .loading import PyFuncModel
from .schema import DATA_TYPES, ColSpec

log = logging.getLogger(__name__)
_NUMERIC = ("double", "float", "long", "integer")
Answer = Callable[[Any, BaseException | None], None]
Job = tuple[tuple[str, ...], list[list[Any]], Answer]
Result = tuple[Answer, Any, BaseException | None]
_FAILED = object()  # the fast path could not score: take the checked path


class Batcher:
    """Collects ``(columns, rows, answer)`` jobs and scores them in batches.

    ``schedule(delay, fn)`` runs ``fn`` on the event loop after ``delay`` seconds;
    ``submit(fn)`` runs ``fn`` in a worker thread, ``post(fn)`` runs it on the event loop
    from any thread. Without ``submit``/``post`` batches are scored on the loop itself.
    ``add`` and the answers run on the loop.
    """

    def __init__(self, model: PyFuncModel, schedule: Callable[[float, Callable[[], Any]], Any],
                 max_rows: int = 4096, *,
                 submit: Callable[[Callable[[], Any]], Any] | None = None,
                 post: Callable[[Callable[[], Any]], Any] | None = None) -> None:
        import numpy as np
        import pandas as pd

        self._model = model
        self._schedule = schedule
        self._max_rows = max_rows
        schema = model.metadata.get_input_schema()
        specs = list(schema.inputs) if schema is not None else []
        self._names = tuple(str(s.name) for s in specs)
        types = {s.type for s in specs if isinstance(s, ColSpec)}
        kind = types.pop() if len(types) == 1 and len(specs) == len(self._names) else None
        # One numeric type for every column: the batch is one 2-D array (the cheapest frame).
        self._dtype = np.dtype(DATA_TYPES[kind]) if kind in _NUMERIC else None
        # JSON numbers a column of that type takes as they are (bool is not int here).
        self._accept = (float, int) if kind in ("double", "float") else (int,)
        self._scorer = model.array_scorer() if self._dtype is not None else None
        self._index = pd.Index(self._names)
        self._orders: dict[tuple[str, ...], list[int] | None] = {}
        self._jobs: list[Job] = []
        self._first = 0.0
        self._scheduled = False
        self._busy = False  # a batch is being scored in the worker
        self._submit = submit
        self._post = post
        self._recent: deque[int] = deque(maxlen=32)
        self._linger = 0.0

    @property
    def skips_pandas(self) -> bool:
        """True when numeric rows are scored as an array, without a DataFrame."""
        return self._scorer is not None

    def add(self, columns: list[str], rows: list[list[Any]], answer: Answer) -> None:
        """Queue rows for scoring; ``answer(predictions, error)`` is called once."""
        if not self._jobs:
            self._first = time.perf_counter()
        self._jobs.append((tuple(columns), rows, answer))
        if not self._scheduled and not self._busy:
            self._scheduled = True
            self._schedule(0, self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._jobs or self._busy:
            return
        expected = max(self._recent, default=1)
        waited = time.perf_counter() - self._first
        if len(self._jobs) < expected and waited < self._linger:
            self._scheduled = True
            self._schedule(self._linger - waited, self._flush)
            return
        jobs, self._jobs = self._jobs, []
        self._recent.append(len(jobs))
        if self._submit is None or self._post is None:
            self._finish(self._score_all(jobs))
            return
        self._busy = True
        self._submit(lambda: self._post_results(jobs))

    def _post_results(self, jobs: list[Job]) -> None:
        """In the worker: score, then hand the answers to the loop."""
        assert self._post is not None
        try:
            results = self._score_all(jobs)
        except BaseException as exc:  # never leave a request unanswered
            results = [(answer, None, exc) for _c, _r, answer in jobs], self._linger
        self._post(lambda: self._finish(results))

    def _finish(self, results: tuple[list[Result], float]) -> None:
        """On the loop: answer every request of a scored batch, then start the next."""
        answers, self._linger = results
        self._busy = False
        for answer, predictions, exc in answers:
            try:
                answer(predictions, exc)
            except Exception:
                log.exception("answering a scored request failed")
        if self._jobs and not self._scheduled:
            self._scheduled = True
            self._schedule(0, self._flush)

    def _score_all(self, jobs: list[Job]) -> tuple[list[Result], float]:
        """``(answer, predictions, error)`` for every job, and the next linger time."""
        t0 = time.perf_counter()
        out: list[Result] = []
        groups: dict[tuple[str, ...], list[Job]] = {}
        for job in jobs:
            groups.setdefault(job[0], []).append(job)
        for columns, group in groups.items():
            for start in range(0, len(group), 256):
                self._score(columns, group[start:start + 256], out)
        # Wait at most a quarter of a batch's scoring time for stragglers (never over 2 ms).
        return out, min(0.002, 0.25 * (time.perf_counter() - t0))

    def _order(self, columns: tuple[str, ...]) -> list[int] | None:
        """Positions of the schema's columns in ``columns``; None unless the same set."""
        if columns not in self._orders:
            where = {c: i for i, c in enumerate(columns)}
            self._orders[columns] = [where[n] for n in self._names] \
                if len(where) == len(columns) == len(self._names) \
                and set(where) == set(self._names) else None
            if len(self._orders) > 256:
                self._orders.clear()
        return self._orders.get(columns)

    def _fast(self, columns: tuple[str, ...], rows: list[list[Any]]) -> Any:
        """Predictions for rows of plain numbers without a checked DataFrame, or _FAILED."""
        if self._dtype is None:
            return _FAILED
        if columns != self._names:
            order = self._order(columns)
            if order is None:
                return _FAILED
            rows = [[r[i] for i in order] for r in rows]
        accept = self._accept
        for row in rows:
            for value in row:
                if type(value) not in accept:
                    return _FAILED  # strings, None, bools, lists: the checked path explains
        import numpy as np

        try:
            array = np.array(rows, dtype=self._dtype)
            if self._scorer is not None:
                return self._scorer(array)
            import pandas as pd

            return self._model.predict_conformed(pd.DataFrame(
                array, columns=self._index, index=pd.RangeIndex(len(rows)), copy=False))
        except Exception:  # e.g. NaN, out of range: the checked path gives the error
            return _FAILED

    def _frame(self, columns: tuple[str, ...], rows: list[list[Any]]) -> Any:
        import pandas as pd

        return pd.DataFrame(rows, columns=list(columns), index=pd.RangeIndex(len(rows)))

    def _score(self, columns: tuple[str, ...], group: list[Job], out: list[Result]) -> None:
        rows = group[0][1] if len(group) == 1 else [r for job in group for r in job[1]]
        predictions = self._fast(columns, rows)
        if predictions is not _FAILED and len(group) == 1:
            out.append((group[0][2], predictions, None))
            return
        if predictions is _FAILED and len(group) > 1:
            try:
                predictions = self._model.predict(self._frame(columns, rows))
            except Exception:  # one bad request spoils the batch: score one by one
                log.debug("batch of %d requests failed; scoring them one by one", len(group))
        if predictions is not _FAILED and _length(predictions) == len(rows):
            start = 0
            for _cols, job_rows, answer in group:
                out.append((answer, _rows(predictions, start, start + len(job_rows)), None))
                start += len(job_rows)
            return
        for _cols, job_rows, answer in group:
            try:
                result = self._model.predict(self._frame(columns, job_rows))
            except Exception as exc:
                out.append((answer, None, exc))
            else:
                out.append((answer, result, None))


def _length(predictions: Any) -> int:
    try:
        return len(predictions)
    except TypeError:  # a scalar cannot be split between requests
        return -1


def _rows(predictions: Any, start: int, stop: int) -> Any:
    if hasattr(predictions, "iloc"):
        return predictions.iloc[start:stop]
    return predictions[start:stop]
