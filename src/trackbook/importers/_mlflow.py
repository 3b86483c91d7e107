"""``import_mlflow``: bring an MLflow store's history into a trackbook store.

Rules (also in the README's migration guide):

- **Run ids are kept**, so ``runs:/<run_id>/...`` URIs and notes that cite run ids keep
  working; so are MLflow 3 logged-model ids (``models:/m-<id>``), with the models' tags,
  params, metrics (datasets included), status and the runs' outputs. Runs keep their
  names, status, start/end times, user, lifecycle stage and parent
  (``mlflow.parentRunId``), every param and tag, and every metric point (step, timestamp,
  value; NaN and infinities included: MLflow's SQLite store keeps +-inf as
  +-DBL_MAX, which are read back as infinities).
- **Experiments are matched by name.** An MLflow experiment whose name exists in trackbook
  already (e.g. ``Default``) is merged into it; otherwise it is created with MLflow's id
  when that id is free, else with a new id. The summary lists every id that changed.
- **An import only adds.** Nothing in trackbook is overwritten: a param/tag/alias/stage
  that differs is left as it is and reported. The one change an import makes to an
  existing run is the end of a run that was RUNNING in MLflow at the previous import.
- **Idempotent.** A second import adds nothing; importing a store that grew adds the new
  runs, points, params, tags, artifact files, model versions and aliases only.
- **The MLflow store is untrusted input.** Every id, key, name and artifact path is checked
  (``_checks.py``) before it becomes a path or a record; what fails a check, and every
  damaged part of the store, is skipped and listed in the summary with its reason.
- **A run shows whole or not at all.** A batch of runs is written files first (artifacts,
  then metric chunks) and its records last, in one append. A run whose files cannot be
  read is skipped (listed); a write that fails (a full disk) or a store found damaged part
  way stops the import with a :class:`~trackbook.TrackbookError` after removing what the
  unfinished batch wrote. Running the import again completes it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from . import _checks
from ._copy import CopyResult, copy_missing
from ._errors import MlflowImportError
from ._points import MetricImport
from ._source import RUN_STATUSES, TERMINAL, Source, SourceRun
from ._summary import ImportSummary

if TYPE_CHECKING:
    from ..projects.progress import ProgressCallback
    from ..store.imports import ImportWriter
    from ..store.store import Store

log = logging.getLogger(__name__)
# Runs read, written and reported on together.
RUN_BATCH = 500
IMPORT_LOCK = "import.lock"
# Errors that mean the destination cannot take more: the import stops (anything else
# going wrong while copying one run's files skips that run).
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def open_source(path: str | os.PathLike[str],
                artifacts: str | os.PathLike[str] | None = None) -> Source:
    """The reader for ``path``: an SQLite database file (or ``sqlite:///`` URI), or a file
    store folder (or ``file://`` URI); a folder holding ``mlflow.db`` means that database."""
    from ._files import FileSource
    from ._sqlite import SqliteSource

    text = os.fspath(path)
    if text.startswith("sqlite:"):
        text = text[len("sqlite:"):]
        text = text[3:] if text.startswith("///") else text.lstrip("/")
        text = unquote(text)
    elif text.startswith("file:"):
        text = unquote(urlparse(text).path)
    p = Path(text).expanduser()
    roots = [Path(artifacts).expanduser()] if artifacts is not None else None
    if roots and not roots[0].is_dir():
        raise MlflowImportError(f"--artifacts {roots[0]} is not a folder")
    if not p.exists():
        raise MlflowImportError(f"{p} does not exist; expected MLflow's SQLite database "
                                "(e.g. ./mlflow.db) or file store folder (e.g. ./mlruns)")
    if p.is_dir() and not any(p.glob("*/meta.yaml")) and (p / "mlflow.db").is_file():
        p = p / "mlflow.db"
    return SqliteSource(p, roots) if p.is_file() else FileSource(p, roots)


def import_mlflow(path: str | os.PathLike[str], artifacts: str | os.PathLike[str] | None = None,
                  *, tracking_uri: str | None = None,
                  progress: bool | ProgressCallback | None = None) -> ImportSummary:
    """Import an MLflow store (runs, metrics, artifacts, registry) into a trackbook store.

    Parameters
    ----------
    path
        MLflow's SQLite database (``mlflow.db``, MLflow 3's default) or legacy file store
        folder (``mlruns``); ``sqlite:///`` and ``file://`` URIs work too.
    artifacts
        The folder holding the artifacts of ``mlflow-artifacts:/`` URIs (``mlflow server``'s
        ``--artifacts-destination``, default ``./mlartifacts``), or where a moved store's
        ``<experiment>/<run>/artifacts`` folders are now. By default the ``mlartifacts`` and
        ``mlruns`` folders next to the database are searched.
    tracking_uri
        The trackbook store to import into (default: the current one).
    progress
        True/None: a progress bar in a notebook, a status line on a terminal; False: none;
        a callable receives :class:`trackbook.projects.Progress` snapshots.

    Returns
    -------
    ImportSummary
        Counts per kind (added, already there), what was skipped and why, and the
        experiment id mapping. Importing again adds only what is new.

    Examples
    --------
    >>> summary = tb.import_mlflow("mlflow.db", artifacts="mlartifacts")   # doctest: +SKIP
    >>> summary.imported["runs"], summary.skipped
    """
    from ..projects.progress import Tracker, reporter
    from ..tracking.uri import get_store

    t0 = time.perf_counter()
    store = get_store(tracking_uri)
    source = open_source(path, artifacts)
    summary = ImportSummary(str(source.location), source.kind, source.schema_version)
    tracker = Tracker(reporter(progress), "import", f"MLflow {source.kind} store")
    try:
        with _one_import_at_a_time(store, tracker):
            _Importer(store, source, summary, tracker).run()
    except BaseException:
        tracker.update("failed", finished=True, failed=True)
        raise
    finally:
        source.close()
    summary.seconds = time.perf_counter() - t0
    log.info("%s", summary)
    tracker.update(f"done: {summary.imported['runs']:,} runs, "
                   f"{summary.imported['metric points']:,} metric points added",
                   finished=True)
    return summary


@contextlib.contextmanager
def _one_import_at_a_time(store: Store, tracker: Any) -> Iterator[None]:
    """Hold ``<store>/import.lock``: two imports running at once would both see a run as
    new and write its points twice, so the second waits for the first."""
    from .._errors import StoreError
    from ..store.durable import file_lock

    store.layout.ensure()
    path = store.root / IMPORT_LOCK
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(file_lock(path, timeout=0))
        except StoreError:  # another import holds it
            tracker.update("waiting for another import into this store to finish")
            stack.enter_context(file_lock(path))
        yield


class _Abandon(Exception):
    """Drop a half-copied temp folder (the reason is already known)."""


def _tail_problem(folder: Path, owner: str) -> str | None:
    """Why ``folder`` is not a run's (or logged model's) artifact folder, or None. MLflow
    always puts them at ``<...>/<run or model id>/artifacts``; a location that says
    otherwise (``/etc``, ``mlflow-artifacts:/../..``) is not read."""
    if Path(os.path.abspath(folder)).parts[-2:] != (owner, "artifacts"):
        return (f"its artifact location {folder} is not a <...>/{owner}/artifacts folder "
                "as MLflow makes them; not read")
    return None


class _Importer:
    def __init__(self, store: Store, source: Source, summary: ImportSummary,
                 tracker: Any) -> None:
        from ..store.imports import ImportWriter

        self.store = store
        self.source = source
        self.summary = summary
        self.tracker = tracker
        self.writer: ImportWriter = ImportWriter(store)
        self.exp_map: dict[str, str] = {}
        # MLflow experiment id -> why it was not imported
        self.exp_skipped: dict[str, str] = {}
        # ids of the MLflow 3 logged models in the store after the import
        self.models: set[str] = set()
        self.runs_by_id: dict[str, SourceRun] = {}
        self.points = MetricImport(store, source, self.writer, summary)

    def _source_skips(self) -> None:
        """Move what the reader left out (damaged parts of the store) into the summary."""
        skipped = getattr(self.source, "skipped", None)
        if skipped:
            for kind, what, why in skipped:
                self.summary.skip(kind, what, why)
            skipped.clear()

    def run(self) -> None:
        try:
            self.tracker.update("experiments")
            self._experiments()
            self._source_skips()
            runs = self._checked_runs(self.source.runs())
            self._source_skips()
            self.runs_by_id = {r.run_id: r for r in runs}
            self.tracker.total = len(runs)
            self._runs(runs)
            self.tracker.update("logged models", len(runs))
            self._logged_models(set(self.runs_by_id))
            self._source_skips()
        except BaseException:
            self.writer.discard()  # the unfinished batch leaves nothing visible
            raise
        finally:
            self.writer.close()
        self.tracker.update("model registry", len(runs))
        from ._models import import_registry

        import_registry(self.store, self.source, self.models, self.summary)
        self._source_skips()

    # -- experiments ---------------------------------------------------------------------

    def _experiments(self) -> None:
        from .._errors import InvalidNameError
        from ..store.imports import claim_experiment
        from ..tracking.validation import check_experiment_name

        s = self.summary
        with self.store.connect() as con:
            tb_tags = {(e, k): v for e, k, v in con.execute(
                "SELECT experiment_id, key, value FROM experiment_tags").fetchall()}
            stages = dict(con.execute(
                "SELECT experiment_id, lifecycle_stage FROM experiments").fetchall())
        for e in self.source.experiments():
            try:
                check_experiment_name(e.name)
                why = _checks.text_problem("its name", e.name)
            except InvalidNameError as exc:
                why = str(exc)
            if why:
                self.exp_skipped[e.experiment_id] = why
                s.skip("experiments", _checks.shown(e.experiment_id), why)
                continue
            # An id that is no MLflow id gets a fresh one (the summary lists the change).
            wanted = None if _checks.experiment_id_problem(e.experiment_id) else e.experiment_id
            tb_id, created = claim_experiment(self.store, e.name, wanted, e.creation_time)
            self.exp_map[e.experiment_id] = tb_id
            s.experiment_ids[e.experiment_id] = tb_id
            if created:
                s.add("experiments")
                if e.lifecycle_stage == "deleted":
                    self.writer.experiment_deleted(tb_id, e.last_update_time)
            else:
                s.had("experiments")
                ours = stages.get(tb_id)
                if ours is not None and ours != e.lifecycle_stage:
                    s.skip("experiments", e.name, f"is {e.lifecycle_stage} in MLflow and "
                                                  f"{ours} in trackbook; left as is")
            new = {}
            for k, v in self._checked(e.tags, "tag", f"experiment {e.name!r}").items():
                old = tb_tags.get((tb_id, k))
                if old is None:
                    new[k] = v
                elif old != v:
                    s.skip("tags", f"experiment {e.name!r} tag {k!r}",
                           "differs in trackbook; trackbook's value kept")
            self.writer.experiment_tags(tb_id, new)
        self.writer.flush()

    def _checked(self, data: dict[str, str], kind: str, owner: str) -> dict[str, str]:
        """The entries of ``data`` whose key and value pass the checks; the rest listed."""
        out = {}
        for k, v in data.items():
            why = _checks.key_problem(kind, k) or _checks.text_problem("its value", v)
            if why:
                self.summary.skip(f"{kind}s", f"{owner} {_checks.shown(k)}", why)
            else:
                out[k] = v
        return out

    # -- runs ----------------------------------------------------------------------------

    def _checked_runs(self, runs: list[SourceRun]) -> list[SourceRun]:
        """The runs whose id, experiment, texts, status and times pass the checks."""
        out = []
        for r in runs:
            why = _checks.run_id_problem(r.run_id)
            if why is None and r.experiment_id in self.exp_skipped:
                why = (f"its experiment {r.experiment_id} was skipped: "
                       f"{self.exp_skipped[r.experiment_id]}")
            elif why is None and r.experiment_id not in self.exp_map:
                why = f"its experiment {r.experiment_id} is not in the MLflow store"
            why = why or (_checks.text_problem("its name", r.name)
                          or _checks.text_problem("its user", r.user_id)
                          or _checks.text_problem("its artifact URI", r.artifact_uri))
            if why is None and r.status not in RUN_STATUSES.values():
                why = (f"its status {_checks.shown(r.status)} is not one of "
                       f"{', '.join(RUN_STATUSES.values())}")
            if why is None and r.lifecycle_stage not in ("active", "deleted"):
                why = f"its lifecycle stage {_checks.shown(r.lifecycle_stage)} is not " \
                      "active or deleted"
            for t in (r.start_time, r.end_time):
                if why is None and t is not None and not (isinstance(t, int)
                                                          and 0 <= t < 2**63):
                    why = f"its start/end time {_checks.shown(t)} is not milliseconds"
            if why:
                self.summary.skip("runs", _checks.shown(r.run_id, 100), why)
            else:
                out.append(r)
        return out

    def _existing(self, run_ids: list[str]) -> tuple[dict[str, dict[str, Any]],
                                                     dict[str, dict[str, str]],
                                                     dict[str, dict[str, str]],
                                                     dict[str, dict[str, int]]]:
        """What trackbook holds for these runs: rows, params, tags, metric counts."""
        import pyarrow as pa

        wanted = pa.table({"run_id": pa.array(run_ids, pa.string())})  # noqa: F841 - SQL
        rows: dict[str, dict[str, Any]] = {}
        params: dict[str, dict[str, str]] = {}
        tags: dict[str, dict[str, str]] = {}
        counts: dict[str, dict[str, int]] = {}
        with self.store.connect() as con:
            for run_id, status, stage, writer, end in con.execute(
                    "SELECT r.run_id, r.status, r.lifecycle_stage, r.writer_id, r.end_time "
                    "FROM runs r JOIN wanted USING (run_id)").fetchall():
                rows[run_id] = {"status": status, "lifecycle_stage": stage, "writer": writer,
                                "end_time": end}
            if not rows:
                return rows, params, tags, counts
            for table, out in (("params", params), ("tags", tags)):
                for run_id, key, value in con.execute(
                        f"SELECT t.run_id, t.key, t.value FROM {table} t "  # noqa: S608
                        "JOIN wanted USING (run_id)").fetchall():
                    out.setdefault(run_id, {})[key] = value
            for run_id, key, n in con.execute(
                    "SELECT m.run_id, m.key, m.count FROM latest_metrics m "
                    "JOIN wanted USING (run_id)").fetchall():
                counts.setdefault(run_id, {})[key] = int(n)
            for run_id, name in con.execute(
                    "SELECT f.run_id, f.file FROM metric_files f "
                    "JOIN wanted USING (run_id)").fetchall():
                self.points.indexed.setdefault(run_id, set()).add(name)
        return rows, params, tags, counts

    def _runs(self, runs: list[SourceRun]) -> None:
        known, tb_params, tb_tags, tb_counts = self._existing([r.run_id for r in runs])
        done = 0
        for i in range(0, len(runs), RUN_BATCH):
            batch = runs[i:i + RUN_BATCH]
            self._run_batch(batch, known, tb_params, tb_tags, tb_counts)
            self._source_skips()
            done += len(batch)
            self.tracker.update(f"{done:,} of {len(runs):,} runs, "
                                f"{self.summary.imported['metric points']:,} metric points",
                                done)

    def _run_batch(self, batch: list[SourceRun], known: dict[str, dict[str, Any]],
                   tb_params: dict[str, dict[str, str]], tb_tags: dict[str, dict[str, str]],
                   tb_counts: dict[str, dict[str, int]]) -> None:
        """Import a batch: files first (new runs' artifacts, then every metric chunk), the
        records last in one append, so no reader ever sees part of a new run."""
        s, w, src = self.summary, self.writer, self.source
        ids = [r.run_id for r in batch]
        params, tags = src.params(ids), src.tags(ids)
        params = {r: self._checked(p, "param", f"run {r}") for r, p in params.items()}
        tags = {r: self._checked(t, "tag", f"run {r}") for r, t in tags.items()}
        # A new run whose artifacts cannot be read is not imported at all (listed).
        new = [r for r in batch if r.run_id not in known and self._artifacts(r, new=True)]
        old = [r for r in batch if r.run_id in known]
        for r in new:
            t = tags.get(r.run_id, {})
            p = params.get(r.run_id, {})
            w.start_run(r.run_id, self.exp_map[r.experiment_id],
                        r.name or t.get("mlflow.runName"), r.start_time,
                        r.user_id, t.get("mlflow.parentRunId") or None)
            w.params(r.run_id, p)
            w.tags(r.run_id, t)
            s.add("runs")
            s.add("params", len(p))
            s.add("tags", len(t))
        self._inputs(batch, new, old)
        for r in old:
            s.had("runs")
            self._grow_run(r, known[r.run_id], params.get(r.run_id, {}),
                           tags.get(r.run_id, {}), tb_params.get(r.run_id, {}),
                           tb_tags.get(r.run_id, {}))
        redo = {r.run_id for r in new if self.points.on_disk(r.run_id)}
        self.points.write([r.run_id for r in new if r.run_id not in redo],
                          [r.run_id for r in old] + sorted(redo), tb_counts)
        for r in new:
            if r.status != "RUNNING":
                w.status(r.run_id, r.status, r.end_time)
            if r.lifecycle_stage == "deleted":
                w.lifecycle(r.run_id, "deleted")
        w.flush()  # the batch's runs appear, whole (and a synced store knows they are ours)
        for r in old:
            self._artifacts(r, new=False)

    def _inputs(self, batch: list[SourceRun], new: list[SourceRun],
                old: list[SourceRun]) -> None:
        """Dataset and model inputs of the batch's runs; an already imported run gets the
        ones it lacks (by name and digest: a run uses a dataset once)."""
        from .._errors import TrackbookError
        from ..tracking.inputs import dataset_record

        reader = getattr(self.source, "inputs", None)
        if reader is None:
            return
        wanted = new + old
        found = reader([r.run_id for r in wanted])
        if not found:
            return
        have: set[tuple[str, str, str]] = set()
        have_models: set[tuple[str, str]] = set()
        if old:
            ids = [r.run_id for r in old]
            with self.store.connect() as con:
                have.update(con.execute("SELECT run_id, name, digest FROM run_inputs "
                                        "WHERE list_contains(?, run_id)", [ids]).fetchall())
                have_models.update(con.execute("SELECT run_id, model_id FROM run_model_inputs "
                                               "WHERE list_contains(?, run_id)",
                                               [ids]).fetchall())
        s = self.summary
        for r in wanted:
            datasets, models = found.get(r.run_id, ([], []))
            records: dict[tuple[str, str], dict[str, Any]] = {}
            for di in datasets:
                try:
                    rec = dataset_record(di)
                except TrackbookError as exc:
                    s.skip("dataset inputs", f"run {r.run_id} dataset "
                                             f"{_checks.shown(di.dataset.name)}", str(exc))
                    continue
                key = (rec["name"], rec["digest"])
                if (r.run_id, *key) in have or key in records:
                    s.had("dataset inputs")
                else:
                    records[key] = rec
            new_models = [m for m in models if isinstance(m, str)
                          and (r.run_id, m) not in have_models]
            self.writer.inputs(r.run_id, self.exp_map[r.experiment_id],
                               list(records.values()), new_models)
            s.add("dataset inputs", len(records))

    def _grow_run(self, r: SourceRun, row: dict[str, Any], params: dict[str, str],
                  tags: dict[str, str], tb_params: dict[str, str],
                  tb_tags: dict[str, str]) -> None:
        """Add what an already imported run gained in MLflow since."""
        s, w = self.summary, self.writer
        new_params = {k: v for k, v in params.items() if k not in tb_params}
        s.add("params", len(new_params))
        s.had("params", len(params) - len(new_params))
        for k, v in params.items():
            if k in tb_params and tb_params[k] != v:
                s.skip("params", f"{r.run_id} {k}", "differs in trackbook; params are "
                                                    "immutable, trackbook's value kept")
        w.params(r.run_id, new_params)
        new_tags = {k: v for k, v in tags.items() if k not in tb_tags}
        s.add("tags", len(new_tags))
        s.had("tags", len(tags) - len(new_tags))
        for k, v in tags.items():
            if k in tb_tags and tb_tags[k] != v:
                s.skip("tags", f"{r.run_id} {k}", "differs in trackbook; trackbook's "
                                                  "value kept")
        w.tags(r.run_id, new_tags)
        status = row["status"]
        if (r.status in TERMINAL and status in ("RUNNING", "KILLED")
                and (r.status, r.end_time) != (status, row["end_time"])):
            if status == "RUNNING" and self._writer_alive(row["writer"]):
                s.skip("runs", r.run_id, f"ended in MLflow ({r.status}) but RUNNING in a live "
                                         "trackbook process; left to that process")
            else:
                # RUNNING in MLflow when imported (trackbook then shows it KILLED at the
                # importer's exit), or an import stopped before logging its end: MLflow
                # has the real end.
                w.status(r.run_id, r.status, r.end_time)
        if r.lifecycle_stage != row["lifecycle_stage"]:
            s.skip("runs", r.run_id, f"lifecycle stage is {r.lifecycle_stage!r} in MLflow "
                                     f"and {row['lifecycle_stage']!r} in trackbook; left as is "
                                     "(tb.delete_run / tb.Client().restore_run change it)")

    def _writer_alive(self, writer_id: str | None) -> bool:
        from ..store.events import writer_alive

        if not writer_id or writer_id == self.store.session.writer_id:
            return False  # this process imported it: nobody is logging to it here
        return writer_alive(self.store.layout, str(writer_id))

    # -- artifacts -----------------------------------------------------------------------

    def _artifacts(self, r: SourceRun, *, new: bool) -> bool:
        """Copy the run's artifacts; False (and the run listed as skipped) when a new run's
        files cannot be copied. A full disk stops the import."""
        folder, why = self.source.artifact_dir(r)
        if folder is None:
            if why:
                self.summary.skip("artifact files", r.run_id, why)
            return True
        why = _tail_problem(folder, r.run_id)
        if why is not None:  # the run is imported, without these files
            self.summary.skip("artifact files", r.run_id, why)
            return True
        why = self._copy(folder, self.store.artifact_root(r.run_id), r.run_id)
        if why is None:
            return True
        if new:
            self.summary.skip("runs", r.run_id, f"its artifacts could not be copied ({why}); "
                                                "not imported, importing again retries it")
        else:
            self.summary.skip("artifact files", r.run_id, why)
        return False

    def _copy(self, src: Path, dest: Path, what: str) -> str | None:
        """Copy what ``dest`` lacks from ``src``; why it failed, or None. A full disk
        raises (:class:`~trackbook.store.durable.DiskWriteError`)."""
        from ..store.durable import DiskWriteError

        result = CopyResult()
        try:
            copy_missing(src, dest, result)
        except OSError as exc:
            code = exc.errno
            if isinstance(exc, DiskWriteError) and code in _DISK_FULL:
                raise
            if code in _DISK_FULL:
                raise DiskWriteError(dest, f"the artifacts of {what}", exc) from exc
            return f"{type(exc).__name__}: {exc}"
        self.summary.add("artifact files", result.copied)
        self.summary.had("artifact files", result.existing)
        for rel in result.differing:
            self.summary.skip("artifact files", f"{what}/{rel}",
                              "differs in size from trackbook's copy; trackbook's kept")
        for rel, why in result.skipped:
            self.summary.skip("artifact files", f"{what}/{rel}", why)
        return None

    def _logged_models(self, run_ids: set[str]) -> None:
        """Import MLflow 3 logged models with their ids, so ``models:/m-<id>`` URIs keep
        working: files into ``<store>/models/<id>/artifacts`` (copied to a temp folder and
        renamed into place, so they appear whole), then the records (name, experiment,
        source run, type, status, tags, params, metrics with their datasets, and the runs'
        outputs) in one append. A model imported before only gets files it lacks."""
        from ..models.logged import MODEL_ID_RE
        from ..store.durable import atomic_path

        s = self.summary
        w = self.writer
        with self.store.connect() as con:
            known = {r[0] for r in con.execute("SELECT model_id FROM logged_models").fetchall()}
        for m in self.source.logged_models():
            why = (None if isinstance(m.model_id, str) and MODEL_ID_RE.fullmatch(m.model_id)
                   else f"its id {_checks.shown(m.model_id)} is not an MLflow logged model "
                        "id ('m-' and 32 hex digits)")
            why = (why or _checks.logged_model_name_problem(m.name)
                   or _checks.text_problem("its artifact location", m.artifact_location))
            if why is None and m.experiment_id not in self.exp_map:
                why = f"its experiment {_checks.shown(m.experiment_id)} was not imported"
            if why:
                s.skip("logged models", _checks.shown(m.model_id), why)
                continue
            folder, why = self.source.logged_model_dir(m)
            if folder is None:
                s.skip("logged models", m.model_id, why or "its artifact folder was not found")
                continue
            why = _tail_problem(folder, m.model_id)
            dest = self.store.layout.logged_model_artifacts(m.model_id)
            before = m.model_id in known
            if why is None and dest.is_dir():
                why = self._copy(folder, dest, f"models/{m.model_id}")
            elif why is None:
                dest.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(_Abandon), atomic_path(
                        dest, what=f"logged model {m.model_id}") as tmp:
                    tmp.mkdir()
                    why = self._copy(folder, tmp, f"models/{m.model_id}")
                    if why is not None:
                        raise _Abandon  # atomic_path removes the temp folder
            if why is not None:
                s.skip("logged models", m.model_id, f"its files could not be copied ({why})")
                continue
            self.models.add(m.model_id)
            if before:
                s.had("logged models")
                continue
            self._model_records(m, str(dest), run_ids)
            s.add("logged models")
        for run_id, model_id, step in self.source.model_outputs():
            if run_id in run_ids and model_id in self.models and model_id not in known:
                w.record("model_output", run=run_id, model=model_id, step=step)
        w.flush()

    def _model_records(self, m: Any, location: str, run_ids: set[str]) -> None:
        w, s = self.writer, self.summary
        tags = self._checked(m.tags, "tag", f"logged model {m.model_id}")
        params = self._checked(m.params, "param", f"logged model {m.model_id}")
        source_run = m.source_run_id if m.source_run_id in run_ids else None
        w.record("model_create", model=m.model_id, exp=self.exp_map[m.experiment_id],
                 name=m.name, source_run=source_run, model_type=m.model_type,
                 artifact_location=location, status="PENDING", tags=tags, params=params,
                 t=m.creation_time)
        w.record("model_status", model=m.model_id, status=m.status, message=m.status_message,
                 t=m.last_updated or m.creation_time)
        points = []
        for key, value, step, ts, run_id, ds_name, ds_digest in m.metrics:
            if (why := _checks.text_problem("its metric key", key)) or not isinstance(
                    value, (int, float)):
                s.skip("logged model metrics", f"{m.model_id} {_checks.shown(key)}",
                       why or f"its value {value!r:.40} is not a number")
                continue
            value = float(value)
            points.append([key, value if math.isfinite(value) else repr(value), int(step),
                           int(ts), ds_name, ds_digest, run_id])
        by_run: dict[str | None, list[list[Any]]] = {}
        for p in points:
            by_run.setdefault(p.pop(), []).append(p)
        for i, (run_id, pts) in enumerate(by_run.items()):
            w.record("model_metrics", model=m.model_id, run=run_id,
                     id=f"import-{m.model_id}-{i}", points=pts, t=m.creation_time)
        s.add("logged model metrics", len(points))
