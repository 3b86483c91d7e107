"""Reading MLflow's SQLite store (``mlflow.db``) directly with ``sqlite3``: no MLflow needed.

The database is opened read-only. Its ``alembic_version`` must be one of the schema
revisions MLflow has shipped up to the newest this module knows; columns that older
revisions lack are read as NULL.

The database is untrusted input: a damaged file (random bytes, a truncated copy, a page
that does not decode) raises :class:`MlflowImportError` naming the file and the fix, from
whichever read meets the damage, never a raw ``sqlite3`` error. Text that is not valid
UTF-8 is read with ``surrogateescape`` so the importer can skip that one item.
"""

from __future__ import annotations

import functools
import math
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import _locations
from ._errors import MlflowImportError, UnknownSchemaError
from ._source import (
    MODEL_STATUS,
    LoggedModel,
    MetricBatch,
    SourceExperiment,
    SourceModel,
    SourceRun,
    SourceVersion,
)

# MLflow's alembic revisions, oldest first (mlflow/store/db_migrations/versions, 1.x-3.18).
KNOWN_REVISIONS = (
    "451aebb31d03", "90e64c465722", "181f10493468", "df50e92ffc5e", "7ac759974ad8",
    "89d4b8295536", "2b4d017a5e9b", "cfd24bdc0731", "0a8213491aaa", "728d730b5ebd",
    "27a6a02d2cf1", "84291f40a231", "a8c4a736bde6", "39d1c3be5f05", "c48cb773bb87",
    "bd07f7e963c5", "0c779009ac13", "cc1f77228345", "97727af70f4d", "3500859a5d39",
    "7f2a7d5fae7d", "2d6e25af4d3e", "acf3f17fdcc7", "867495a8f9d4", "5b0e9adcef9c",
    "4465047574b1", "f5a4f2784254", "0584bdc529eb", "400f98739977", "6953534de441",
    "bda7b8c39065", "cbc13b556ace", "770bee3ae1dd", "a1b2c3d4e5f6", "de4033877273",
    "1a0cddfcaa16", "534353b11cbc", "71994744cf8e", "3da73c924c2f", "bf29a5ff90ea",
    "1bd49d398cd23", "b7c8d9e0f1a2", "5d2d30f0abce", "c9d4e5f6a7b8", "2c33131f4dae",
    "d3e4f5a6b7c8", "d0e1f2a3b4c5", "c8d9e0f1a2b3", "1b5f0d9ad7c1", "e1f2a3b4c5d6",
    "76601a5f987d", "c3d6457b6d8a", "a5b4c3d2e1f0", "ae8bbe7743c9", "7d34483879f0",
    "da6fb0208061", "89d3d66ed43f", "b7e4c1a90f23", "a8b9c0d1e2f3", "c1d2e3f4a5b6",
    "c3d9e7f1a2b4", "6f8d9c3b2a1e", "1971f2d9a75b", "17e22815139b", "b7e2c1a4d9f3",
    "75868b020152", "dc11669786a5",
    # MLflow 3.18: skill registry, issue contract, MCP server versions (no tracking table)
    "e7d1f4b2a9c6", "8b6ad64cb8f5", "f4a9b2c7d1e6",
)
# MLflow stores +-inf as +-DBL_MAX (SQL has no infinity): read them back as infinities.
DBL_MAX = 1.7976931348623157e308
# Rows per IN (...) list: SQLite allows 32766 host parameters; stay well below.
BATCH = 900
# Metric points read (and held in memory) at once, unless one run has more.
POINTS_PER_READ = 2_000_000


def _q(n: int) -> str:
    return ",".join("?" * n)


def damaged(path: Path, exc: BaseException) -> MlflowImportError:
    """The error for a database that fails part way through being read."""
    return MlflowImportError(
        f"{path} is damaged and cannot be read ({type(exc).__name__}: {exc}). Runs imported "
        "before this point are complete; nothing of the rest was imported. Repair a copy "
        f"with `sqlite3 {path.name} .recover | sqlite3 repaired.db` and import that")


# Damage shows as sqlite3 errors, or as values of the wrong type in a column (SQLite
# does not enforce column types).
_DAMAGE = (sqlite3.DatabaseError, ValueError, TypeError, OverflowError)


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: SqliteSource, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except _DAMAGE as exc:
            raise damaged(self.location, exc) from exc
    return wrapper


def _guarded_iter(method: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    @functools.wraps(method)
    def wrapper(self: SqliteSource, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from method(self, *args, **kwargs)
        except _DAMAGE as exc:
            raise damaged(self.location, exc) from exc
    return wrapper


class SqliteSource:
    """An MLflow tracking database, opened read-only.

    Parameters
    ----------
    path
        The ``.db`` file.
    artifact_roots
        Folders that hold ``<experiment>/<run>/artifacts`` (``mlflow server``'s
        ``--artifacts-destination``, or a moved ``mlruns``). When none is given, the
        ``mlartifacts`` and ``mlruns`` folders next to the database are used if they exist.
    """

    kind = "sqlite"

    def __init__(self, path: Path, artifact_roots: list[Path] | None = None) -> None:
        self.location = path
        if not path.is_file():
            raise MlflowImportError(f"{path} is not a file; expected MLflow's SQLite "
                                    "database (e.g. ./mlflow.db) or a file store folder")
        try:
            self.con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
            self.con.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
            tables = {r[0] for r in self.con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise MlflowImportError(f"{path} is not an SQLite database: {exc}") from None
            raise damaged(path, exc) from None
        if "alembic_version" not in tables or "runs" not in tables:
            raise MlflowImportError(
                f"{path} is an SQLite database but not MLflow's (no alembic_version/runs "
                f"tables; it has {sorted(tables)[:8]})")
        self.skipped: list[tuple[str, str, str]] = []
        try:
            rows = self.con.execute("SELECT version_num FROM alembic_version").fetchall()
            self.columns = {t: {r[1] for r in self.con.execute(f"PRAGMA table_info('{t}')")}
                            for t in tables}
        except sqlite3.DatabaseError as exc:
            raise damaged(path, exc) from None
        self.schema_version = rows[0][0] if rows else None
        if self.schema_version not in KNOWN_REVISIONS:
            raise UnknownSchemaError(
                f"{path} has MLflow database schema version {self.schema_version!r} "
                f"(table alembic_version), which this trackbook does not know. Known: the "
                f"{len(KNOWN_REVISIONS)} revisions of MLflow 1.x to 3.18 (newest "
                f"{KNOWN_REVISIONS[-1]}). If a newer MLflow wrote it, upgrade trackbook; if "
                "it is older, run `mlflow db upgrade sqlite:///<file>` first")
        self.tables = tables
        base = path.absolute().parent
        if artifact_roots:
            self.roots = [Path(r).absolute() for r in artifact_roots]
        else:
            self.roots = [base / d for d in ("mlartifacts", "mlruns") if (base / d).is_dir()]
        self.base = base

    def close(self) -> None:
        self.con.close()

    def _col(self, table: str, column: str, alias: str | None = None) -> str:
        """``column`` when ``table`` has it, else NULL (older schema revisions)."""
        name = alias or column
        return column if column in self.columns.get(table, ()) else f"NULL AS {name}"

    # -- tracking ------------------------------------------------------------------------

    @_guarded
    def experiments(self) -> list[SourceExperiment]:
        cols = ", ".join([
            "experiment_id", "name", self._col("experiments", "lifecycle_stage"),
            self._col("experiments", "creation_time"),
            self._col("experiments", "last_update_time"),
            self._col("experiments", "artifact_location")])
        out = {}
        for r in self.con.execute(f"SELECT {cols} FROM experiments ORDER BY experiment_id"):  # noqa: S608
            out[str(r[0])] = SourceExperiment(str(r[0]), r[1], r[2] or "active", r[3], r[4], r[5])
        if "experiment_tags" in self.tables:
            for key, value, exp in self.con.execute(
                    "SELECT key, value, experiment_id FROM experiment_tags"):
                if str(exp) in out:
                    out[str(exp)].tags[key] = value if value is not None else ""
        return list(out.values())

    @_guarded
    def runs(self) -> list[SourceRun]:
        cols = ", ".join([
            "run_uuid", "experiment_id", self._col("runs", "name"), "status", "start_time",
            "end_time", "lifecycle_stage", "user_id", "artifact_uri"])
        return [SourceRun(r[0], str(r[1]), r[2], r[3] or "RUNNING", r[4], r[5], r[6] or "active",
                          r[7], r[8])
                for r in self.con.execute(f"SELECT {cols} FROM runs ORDER BY start_time, run_uuid")]  # noqa: S608

    @_guarded
    def _key_values(self, table: str, run_ids: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for i in range(0, len(run_ids), BATCH):
            part = run_ids[i:i + BATCH]
            for key, value, run in self.con.execute(
                    f"SELECT key, value, run_uuid FROM {table} "  # noqa: S608 - a constant
                    f"WHERE run_uuid IN ({_q(len(part))})", part):
                out.setdefault(run, {})[key] = value if value is not None else ""
        return out

    def params(self, run_ids: list[str]) -> dict[str, dict[str, str]]:
        return self._key_values("params", run_ids)

    def tags(self, run_ids: list[str]) -> dict[str, dict[str, str]]:
        return self._key_values("tags", run_ids)

    @_guarded
    def inputs(self, run_ids: list[str]) -> dict[str, tuple[list[Any], list[str]]]:
        """Each run's dataset inputs (``DatasetInput``, as logged) and logged-model inputs
        (model ids), from MLflow's ``datasets``/``inputs``/``input_tags`` tables."""
        from ..tracking.entities import Dataset, DatasetInput, InputTag

        out: dict[str, tuple[list[Any], list[str]]] = {}
        if not {"datasets", "inputs"} <= self.tables:
            return out
        for i in range(0, len(run_ids), BATCH):
            part = run_ids[i:i + BATCH]
            rows = self.con.execute(
                "SELECT i.destination_id, i.input_uuid, d.name, d.digest, "  # noqa: S608
                "d.dataset_source_type, d.dataset_source, d.dataset_schema, d.dataset_profile "
                "FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id "
                "WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' "
                f"AND i.destination_id IN ({_q(len(part))}) ORDER BY i.rowid", part).fetchall()
            tags: dict[str, list[Any]] = {}
            uuids = [r[1] for r in rows]
            for j in range(0, len(uuids), BATCH):
                if "input_tags" not in self.tables:
                    break
                chunk = uuids[j:j + BATCH]
                for uuid, name, value in self.con.execute(
                        "SELECT input_uuid, name, value FROM input_tags "  # noqa: S608
                        f"WHERE input_uuid IN ({_q(len(chunk))}) ORDER BY rowid", chunk):
                    tags.setdefault(uuid, []).append(InputTag(name, value))
            for run_id, uuid, *fields in rows:
                out.setdefault(run_id, ([], []))[0].append(
                    DatasetInput(Dataset(*fields), tags.get(uuid, [])))
            for run_id, model_id in self.con.execute(
                    "SELECT source_id, destination_id FROM inputs "  # noqa: S608
                    "WHERE source_type = 'RUN_INPUT' AND destination_type = 'MODEL_INPUT' "
                    f"AND source_id IN ({_q(len(part))}) ORDER BY rowid", part):
                out.setdefault(run_id, ([], []))[1].append(model_id)
        return out

    @_guarded
    def metric_counts(self, run_ids: list[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for i in range(0, len(run_ids), BATCH):
            part = run_ids[i:i + BATCH]
            for run, key, n in self.con.execute(
                    f"SELECT run_uuid, key, count(*) FROM metrics "  # noqa: S608
                    f"WHERE run_uuid IN ({_q(len(part))}) GROUP BY run_uuid, key", part):
                out.setdefault(run, {})[key] = n
        return out

    @_guarded_iter
    def metrics(self, run_ids: list[str]) -> Iterator[MetricBatch]:
        """Every point of the runs, a batch of runs at a time, as numpy columns.

        Runs are read in batches of at most :data:`POINTS_PER_READ` points (a longer run
        alone), each with two queries in one short read transaction (a consistent
        snapshot while MLflow may be writing): the (run, key) groups with their sizes, then
        only the numbers, in the same order. Not fetching the run id and key of every
        point is what makes this fast (strings are the costly part of a row).
        """
        for i in range(0, len(run_ids), BATCH):
            part = run_ids[i:i + BATCH]
            totals = dict(self.con.execute(
                f"SELECT run_uuid, count(*) FROM metrics WHERE run_uuid IN ({_q(len(part))}) "  # noqa: S608
                "GROUP BY run_uuid", part).fetchall())
            todo, size = [], 0
            for run_id in sorted(totals):
                if todo and size + totals[run_id] > POINTS_PER_READ:
                    yield from self._read(todo)
                    todo, size = [], 0
                todo.append(run_id)
                size += totals[run_id]
            if todo:
                yield from self._read(todo)

    def _read(self, run_ids: list[str]) -> Iterator[MetricBatch]:
        import numpy as np

        # Old revisions stored NaN as NULL; newer ones as 0 with is_nan set.
        nan_col = "(value IS NULL" + (" OR is_nan)" if "is_nan" in self.columns.get(
            "metrics", ()) else ")")
        where = f"WHERE run_uuid IN ({_q(len(run_ids))})"
        self.con.execute("BEGIN")
        try:
            groups = self.con.execute(
                f"SELECT run_uuid, key, count(*) FROM metrics {where} "  # noqa: S608
                "GROUP BY run_uuid, key ORDER BY run_uuid, key", run_ids).fetchall()
            rows = self.con.execute(
                f"SELECT ifnull(value, 0.0), step, timestamp, {nan_col} FROM metrics {where} "  # noqa: S608
                "ORDER BY run_uuid, key", run_ids).fetchall() if groups else []
        finally:
            self.con.execute("COMMIT")
        n = len(rows)
        if sum(g[2] for g in groups) != n:  # pragma: no cover - the snapshot forbids it
            raise MlflowImportError("the metrics table changed while it was read")
        if not n:
            return
        values, steps, stamps, nans = zip(*rows, strict=True)
        del rows
        v = np.fromiter(values, np.float64, n)
        v[np.fromiter(nans, np.bool_, n)] = np.nan
        v[v == DBL_MAX] = np.inf
        v[v == -DBL_MAX] = -np.inf
        runs, keys, sizes = zip(*groups, strict=True)
        yield MetricBatch(list(runs), list(keys), np.fromiter(sizes, np.int64, len(sizes)), v,
                          np.fromiter(steps, np.int64, n), np.fromiter(stamps, np.int64, n))

    def artifact_dir(self, run: SourceRun) -> tuple[Path | None, str | None]:
        return _locations.resolve(run.artifact_uri, (run.experiment_id, run.run_id, "artifacts"),
                                  self.roots, self.base)

    # -- MLflow 3 logged models and the registry -------------------------------------------

    @_guarded
    def logged_models(self) -> list[LoggedModel]:
        """MLflow 3 logged models (not deleted) with their tags, params and metrics."""
        if "logged_models" not in self.tables:
            return []
        c = lambda col: self._col("logged_models", col)  # noqa: E731
        lifecycle = ("WHERE lifecycle_stage IS NULL OR lifecycle_stage != 'deleted'"
                     if "lifecycle_stage" in self.columns["logged_models"] else "")
        models = [LoggedModel(r[0], str(r[1]), r[2], r[3], r[4], r[5] or 0, r[6],
                              MODEL_STATUS.get(r[7], "READY") if r[7] is not None else "READY",
                              r[8], r[9])
                  for r in self.con.execute(
                      "SELECT model_id, experiment_id, name, artifact_location, "  # noqa: S608
                      f"source_run_id, creation_timestamp_ms, {c('model_type')}, "
                      f"{c('status')}, {c('status_message')}, "
                      f"{c('last_updated_timestamp_ms')} FROM logged_models {lifecycle} "
                      "ORDER BY creation_timestamp_ms, model_id")]
        by_id = {m.model_id: m for m in models}
        for table, attr, k, v in (("logged_model_tags", "tags", "tag_key", "tag_value"),
                                  ("logged_model_params", "params", "param_key",
                                   "param_value")):
            if table in self.tables:
                for mid, key, value in self.con.execute(
                        f"SELECT model_id, {k}, {v} FROM {table} ORDER BY rowid"):  # noqa: S608
                    if mid in by_id:
                        getattr(by_id[mid], attr)[key] = value
        if "logged_model_metrics" in self.tables:
            m = lambda col: self._col("logged_model_metrics", col)  # noqa: E731
            for mid, *point in self.con.execute(
                    "SELECT model_id, metric_name, metric_value, metric_step, "  # noqa: S608
                    f"metric_timestamp_ms, {m('run_id')}, {m('dataset_name')}, "
                    f"{m('dataset_digest')} FROM logged_model_metrics ORDER BY rowid"):
                if mid in by_id:
                    value = point[1]
                    if value is not None and abs(value) == DBL_MAX:
                        value = math.copysign(math.inf, value)
                    point[1] = value
                    by_id[mid].metrics.append(tuple(point))
        return models

    @_guarded
    def model_outputs(self) -> list[tuple[str, str, int]]:
        """(run id, model id, step) of every run's MLflow 3 model outputs."""
        if "inputs" not in self.tables or "step" not in self.columns["inputs"]:
            return []
        return [(r, m, int(st or 0)) for r, m, st in self.con.execute(
            "SELECT source_id, destination_id, step FROM inputs WHERE source_type = "
            "'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT' ORDER BY rowid")]

    def logged_model_dir(self, model: LoggedModel) -> tuple[Path | None, str | None]:
        return _locations.resolve(model.artifact_location,
                                  (model.experiment_id, "models", model.model_id, "artifacts"),
                                  self.roots, self.base)

    @_guarded
    def registered_models(self) -> tuple[list[SourceModel], list[tuple[str, str]]]:
        """The registry (default workspace first); (models, skipped (name, why))."""
        if "registered_models" not in self.tables:
            return [], []
        ws = "workspace" in self.columns["registered_models"]
        order = "ORDER BY workspace != 'default', workspace, name" if ws else "ORDER BY name"
        models: dict[tuple[str, str], SourceModel] = {}
        skipped: list[tuple[str, str]] = []
        seen: set[str] = set()
        workspace_col = self._col("registered_models", "workspace")
        for row in self.con.execute(
                f"SELECT name, description, creation_time, {workspace_col} "  # noqa: S608
                f"FROM registered_models {order}"):
            name, workspace = row[0], row[3] or "default"
            if name in seen:
                skipped.append((name, f"a model of that name in workspace 'default' was "
                                      f"imported; the one in workspace {workspace!r} is not"))
                continue
            seen.add(name)
            models[(workspace, name)] = SourceModel(name, row[1], row[2])

        def owner(workspace: Any, name: str) -> SourceModel | None:
            return models.get((workspace or "default", name))

        wcol = lambda t: self._col(t, "workspace")  # noqa: E731
        if "registered_model_tags" in self.tables:
            for key, value, name, w in self.con.execute(
                    f"SELECT key, value, name, {wcol('registered_model_tags')} "  # noqa: S608
                    "FROM registered_model_tags"):
                if (m := owner(w, name)) is not None:
                    m.tags[key] = value if value is not None else ""
        vcols = ", ".join(["name", "version", "source", "run_id", "current_stage", "description",
                           "user_id", "creation_time", self._col("model_versions", "run_link"),
                           wcol("model_versions")])
        by_version: dict[tuple[str, str, int], SourceVersion] = {}
        for r in self.con.execute(f"SELECT {vcols} FROM model_versions ORDER BY version"):  # noqa: S608
            if (m := owner(r[9], r[0])) is not None:
                v = SourceVersion(int(r[1]), r[2], r[3], r[4] or "None", r[5], r[6], r[7], r[8])
                m.versions.append(v)
                by_version[(r[9] or "default", r[0], int(r[1]))] = v
        if "model_version_tags" in self.tables:
            for key, value, name, version, w in self.con.execute(
                    f"SELECT key, value, name, version, {wcol('model_version_tags')} "  # noqa: S608
                    "FROM model_version_tags"):
                if (v := by_version.get((w or "default", name, int(version)))) is not None:
                    v.tags[key] = value if value is not None else ""
        if "registered_model_aliases" in self.tables:
            for alias, version, name, w in self.con.execute(
                    f"SELECT alias, version, name, {wcol('registered_model_aliases')} "  # noqa: S608
                    "FROM registered_model_aliases"):
                if (m := owner(w, name)) is not None:
                    m.aliases[alias] = int(version)
        return list(models.values()), skipped
