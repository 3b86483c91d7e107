"""Reading MLflow's legacy file store (``./mlruns``) directly: no MLflow needed.

::

    mlruns/<exp_id>/meta.yaml                    experiment (name, lifecycle_stage, times)
    mlruns/<exp_id>/tags/<key>                   experiment tags (keys may contain '/')
    mlruns/<exp_id>/<run_id>/meta.yaml           run (status as a number, times, user, ...)
    mlruns/<exp_id>/<run_id>/params/<key>        one file per param, the value as text
    mlruns/<exp_id>/<run_id>/tags/<key>          one file per tag
    mlruns/<exp_id>/<run_id>/metrics/<key>       lines "timestamp value step" (old: no step)
    mlruns/<exp_id>/<run_id>/artifacts/          artifact files
    mlruns/<exp_id>/models/<model_id>/           MLflow 3 logged models (meta.yaml, artifacts/)
    mlruns/.trash/<exp_id>/...                   deleted experiments, same layout
    mlruns/models/<name>/meta.yaml               registered model (description, aliases)
    mlruns/models/<name>/tags/<key>
    mlruns/models/<name>/version-<n>/meta.yaml   model version (source, run_id, stage, ...)
    mlruns/models/<name>/version-<n>/tags/<key>
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import _locations
from ._errors import MlflowImportError
from ._source import (
    RUN_STATUSES,
    LoggedModel,
    MetricBatch,
    SourceExperiment,
    SourceModel,
    SourceRun,
    SourceVersion,
)

_NOT_RUNS = {"tags", "models", "datasets", "traces", "outputs"}


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, "rb") as f:
            data = yaml.load(f, Loader=loader)
    except yaml.YAMLError as exc:
        raise MlflowImportError(f"{path} is not valid YAML: {exc}") from None
    return data if isinstance(data, dict) else {}


def _key_files(folder: Path) -> dict[str, str]:
    """{key: text} of the files under ``folder``; a key's '/' is a sub-folder."""
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            key = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, encoding="utf-8") as f:
                out[key] = f.read()
    return out


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


class FileSource:
    """An MLflow file store folder (``mlruns``)."""

    kind = "file"
    schema_version = None

    def __init__(self, root: Path, artifact_roots: list[Path] | None = None) -> None:
        self.location = root
        if not root.is_dir():
            raise MlflowImportError(f"{root} is not a folder")
        exp_dirs = [p for p in (*root.iterdir(), *self._trash()) if (p / "meta.yaml").is_file()
                    and p.name != "models"]
        if not exp_dirs:
            raise MlflowImportError(
                f"{root} is not an MLflow file store: no <experiment id>/meta.yaml inside. "
                "Pass the mlruns folder itself, or the SQLite database file (mlflow.db)")
        self.exp_dirs = sorted(exp_dirs, key=lambda p: p.name)
        self.roots = [Path(r).absolute() for r in artifact_roots or []] + [root.absolute()]
        self._run_dirs: dict[str, Path] = {}

    def _trash(self) -> list[Path]:
        trash = self.location / ".trash"
        return list(trash.iterdir()) if trash.is_dir() else []

    def close(self) -> None:
        pass

    def experiments(self) -> list[SourceExperiment]:
        out = []
        for d in self.exp_dirs:
            meta = _yaml(d / "meta.yaml")
            exp_id = str(meta.get("experiment_id", d.name))
            out.append(SourceExperiment(
                exp_id, str(meta.get("name", exp_id)),
                "deleted" if d.parent.name == ".trash" else meta.get("lifecycle_stage") or "active",
                _int(meta.get("creation_time")), _int(meta.get("last_update_time")),
                meta.get("artifact_location"), _key_files(d / "tags")))
        return out

    def runs(self) -> list[SourceRun]:
        out = []
        for d in self.exp_dirs:
            for r in sorted(d.iterdir()):
                if r.name in _NOT_RUNS or not (r / "meta.yaml").is_file():
                    continue
                meta = _yaml(r / "meta.yaml")
                run_id = str(meta.get("run_id") or meta.get("run_uuid") or r.name)
                status = meta.get("status", 1)
                self._run_dirs[run_id] = r
                out.append(SourceRun(
                    run_id, str(meta.get("experiment_id", d.name)), meta.get("run_name") or None,
                    RUN_STATUSES.get(status, str(status)) if isinstance(status, int)
                    else str(status), _int(meta.get("start_time")), _int(meta.get("end_time")),
                    meta.get("lifecycle_stage") or "active", meta.get("user_id"),
                    meta.get("artifact_uri")))
        out.sort(key=lambda r: (r.start_time or 0, r.run_id))
        return out

    def params(self, run_ids: list[str]) -> dict[str, dict[str, str]]:
        return {r: _key_files(self._run_dirs[r] / "params") for r in run_ids}

    def tags(self, run_ids: list[str]) -> dict[str, dict[str, str]]:
        return {r: _key_files(self._run_dirs[r] / "tags") for r in run_ids}

    def _metric_files(self, run_id: str) -> dict[str, str]:
        folder = self._run_dirs[run_id] / "metrics"
        out = {}
        if folder.is_dir():
            for dirpath, _dirs, files in os.walk(folder):
                for name in files:
                    path = os.path.join(dirpath, name)
                    out[os.path.relpath(path, folder).replace(os.sep, "/")] = path
        return out

    def metric_counts(self, run_ids: list[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in run_ids:
            for key, path in self._metric_files(r).items():
                with open(path, "rb") as f:
                    out.setdefault(r, {})[key] = sum(1 for line in f if line.strip())
        return out

    def metrics(self, run_ids: list[str]) -> Iterator[MetricBatch]:
        import numpy as np

        for r in run_ids:
            keys: list[str] = []
            parts: list[Any] = []
            for key, path in sorted(self._metric_files(r).items()):
                with open(path, encoding="utf-8") as f:
                    rows = [line.split() for line in f if line.strip()]
                if not rows:
                    continue
                try:
                    stamps = np.array([int(x[0]) for x in rows], np.int64)
                    values = np.array([float(x[1]) for x in rows], np.float64)
                    steps = np.array([int(x[2]) if len(x) > 2 else 0 for x in rows], np.int64)
                except (ValueError, IndexError) as exc:
                    raise MlflowImportError(f"{path}: a line is not 'timestamp value step' "
                                            f"({exc})") from None
                parts.append((values, steps, stamps))
                keys.append(key)
            if parts:
                values, steps, stamps = (np.concatenate(c) for c in zip(*parts, strict=True))
                sizes = np.array([len(p[0]) for p in parts], np.int64)
                yield MetricBatch([r] * len(keys), keys, sizes, values, steps, stamps)

    def artifact_dir(self, run: SourceRun) -> tuple[Path | None, str | None]:
        own = self._run_dirs[run.run_id] / "artifacts"
        if own.is_dir():
            return own, None
        return _locations.resolve(run.artifact_uri, (run.experiment_id, run.run_id, "artifacts"),
                                  self.roots, self.location)

    def logged_models(self) -> list[LoggedModel]:
        out = []
        for d in self.exp_dirs:
            models = d / "models"
            if not models.is_dir():
                continue
            for m in models.iterdir():
                if not (m / "meta.yaml").is_file():
                    continue
                meta = _yaml(m / "meta.yaml")
                if meta.get("lifecycle_stage") == "deleted":
                    continue
                out.append(LoggedModel(str(meta.get("model_id", m.name)), d.name,
                                       str(meta.get("name", "model")),
                                       meta.get("artifact_location"), meta.get("source_run_id"),
                                       _int(meta.get("creation_timestamp")) or 0))
        out.sort(key=lambda m: (m.creation_time, m.model_id))
        return out

    def logged_model_dir(self, model: LoggedModel) -> tuple[Path | None, str | None]:
        for d in self.exp_dirs:
            own = d / "models" / model.model_id / "artifacts"
            if own.is_dir():
                return own, None
        return _locations.resolve(model.artifact_location,
                                  (model.experiment_id, "models", model.model_id, "artifacts"),
                                  self.roots, self.location)

    def registered_models(self) -> tuple[list[SourceModel], list[tuple[str, str]]]:
        folder = self.location / "models"
        out: list[SourceModel] = []
        if not folder.is_dir():
            return out, []
        for d in sorted(folder.iterdir()):
            if not (d / "meta.yaml").is_file():
                continue
            meta = _yaml(d / "meta.yaml")
            model = SourceModel(str(meta.get("name", d.name)), meta.get("description"),
                                _int(meta.get("creation_timestamp")), _key_files(d / "tags"),
                                {str(a): int(v) for a, v in (meta.get("aliases") or {}).items()})
            for v in d.iterdir():
                if not (v.name.startswith("version-") and (v / "meta.yaml").is_file()):
                    continue
                vm = _yaml(v / "meta.yaml")
                model.versions.append(SourceVersion(
                    int(vm.get("version", v.name[len("version-"):])), vm.get("source"),
                    vm.get("run_id"), str(vm.get("current_stage") or "None"),
                    vm.get("description"), vm.get("user_id"),
                    _int(vm.get("creation_timestamp")), vm.get("run_link"),
                    _key_files(v / "tags")))
            model.versions.sort(key=lambda x: x.version)
            out.append(model)
        return out, []
