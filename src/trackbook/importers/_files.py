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

The tree is read as untrusted input: a damaged part (YAML that does not parse, a missing
``meta.yaml``, a value that is not UTF-8, a metric line that is not ``timestamp value
step``, a symlink) is left out and recorded in :attr:`FileSource.skipped` with its reason,
and the rest is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import _locations
from ._errors import MlflowImportError
from ._source import (
    MODEL_STATUS,
    RUN_STATUSES,
    LoggedModel,
    MetricBatch,
    SourceExperiment,
    SourceModel,
    SourceRun,
    SourceVersion,
)

_NOT_RUNS = {"tags", "models", "datasets", "traces", "outputs"}
# What a run folder holds besides meta.yaml: a folder with one of these but no meta.yaml
# is a damaged run, not something else.
_RUN_PARTS = ("metrics", "params", "tags", "artifacts")


class _Bad(Exception):
    """A part of the tree that cannot be read; the message says why."""


def _yaml(path: Path) -> dict[str, Any]:
    """The mapping in ``path``; :class:`_Bad` when it is missing, unreadable or not YAML."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if path.is_symlink():
        raise _Bad(f"{path} is a symlink; not followed")
    try:
        with open(path, "rb") as f:
            data = yaml.load(f, Loader=loader)
    except FileNotFoundError:
        raise _Bad(f"{path} is missing") from None
    except OSError as exc:
        raise _Bad(f"{path} cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise _Bad(f"{path} is not valid YAML: {' '.join(str(exc).split())[:200]}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Bad(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise _Bad(f"{path} does not hold a YAML mapping (it is empty or truncated)")
    return data


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _Bad(f"{value!r} is not an integer")
    try:
        out = int(value)
    except ValueError:
        raise _Bad(f"{value!r} is not an integer") from None
    if not -(2**63) <= out < 2**63:
        raise _Bad(f"{value} does not fit in 64 bits")
    return out


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _walk_files(folder: Path) -> Iterator[tuple[str, str]]:
    """(key, path) of the regular files under ``folder``; a key's '/' is a sub-folder."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            yield os.path.relpath(path, folder).replace(os.sep, "/"), path


class FileSource:
    """An MLflow file store folder (``mlruns``)."""

    kind = "file"
    schema_version = None

    def __init__(self, root: Path, artifact_roots: list[Path] | None = None) -> None:
        self.location = root
        if not root.is_dir():
            raise MlflowImportError(f"{root} is not a folder")
        # (kind, what, why) of everything left out while reading
        self.skipped: list[tuple[str, str, str]] = []
        exp_dirs, orphans = [], []
        for p in sorted((*root.iterdir(), *self._trash()), key=lambda p: p.name):
            if p.name in ("models", ".trash") or not p.is_dir() or p.is_symlink():
                continue
            if (p / "meta.yaml").is_file():
                exp_dirs.append(p)
            elif any(self._looks_like_run(r) for r in p.iterdir()):
                orphans.append(p)
        if not exp_dirs and not orphans:
            raise MlflowImportError(
                f"{root} is not an MLflow file store: no <experiment id>/meta.yaml inside. "
                "Pass the mlruns folder itself, or the SQLite database file (mlflow.db)")
        for d in orphans:
            self._skip_experiment(d, f"its meta.yaml is missing ({d / 'meta.yaml'})")
        self.exp_dirs = exp_dirs
        self.roots = [Path(r).absolute() for r in artifact_roots or []] + [root.absolute()]
        self._run_dirs: dict[str, Path] = {}
        self._reported: set[tuple[str, str]] = set()  # metric files already listed

    @staticmethod
    def _looks_like_run(path: Path) -> bool:
        return (path.is_dir() and path.name not in _NOT_RUNS
                and ((path / "meta.yaml").exists() or any((path / p).is_dir()
                                                          for p in _RUN_PARTS)))

    def _skip_experiment(self, d: Path, why: str) -> None:
        self.skipped.append(("experiments", d.name, why))
        for r in sorted(d.iterdir()):
            if self._looks_like_run(r):
                self.skipped.append(("runs", r.name, f"its experiment {d.name} was skipped: "
                                                     f"{why}"))

    def _trash(self) -> list[Path]:
        trash = self.location / ".trash"
        return list(trash.iterdir()) if trash.is_dir() else []

    def close(self) -> None:
        pass

    def _key_files(self, folder: Path, what: str) -> dict[str, str]:
        """{key: text} of the files under ``folder``; files that are symlinks or not
        UTF-8 are left out (and recorded)."""
        out: dict[str, str] = {}
        if not folder.is_dir() or folder.is_symlink():
            return out
        for key, path in _walk_files(folder):
            shown = f"{what} {key!r}"
            if os.path.islink(path):
                self.skipped.append((folder.name, shown, "a symlink; not followed"))
                continue
            try:
                with open(path, "rb") as f:
                    out[key] = f.read().decode("utf-8")
            except UnicodeDecodeError:
                self.skipped.append((folder.name, shown, "its value is not valid UTF-8"))
            except OSError as exc:
                self.skipped.append((folder.name, shown,
                                     f"cannot be read: {exc.strerror or exc}"))
        return out

    def experiments(self) -> list[SourceExperiment]:
        out = []
        good = []
        for d in self.exp_dirs:
            try:
                meta = _yaml(d / "meta.yaml")
                exp_id = str(meta.get("experiment_id", d.name))
                name = meta.get("name", exp_id)
                if not isinstance(name, str):
                    raise _Bad(f"its name {name!r} is not text")
                stage = ("deleted" if d.parent.name == ".trash"
                         else meta.get("lifecycle_stage") or "active")
                exp = SourceExperiment(exp_id, name, str(stage), _int(meta.get("creation_time")),
                                       _int(meta.get("last_update_time")),
                                       _str(meta.get("artifact_location")))
            except _Bad as exc:
                self._skip_experiment(d, str(exc))
                continue
            exp.tags = self._key_files(d / "tags", f"experiment {exp.name!r} tag")
            out.append(exp)
            good.append(d)
        self.exp_dirs = good
        return out

    def runs(self) -> list[SourceRun]:
        out = []
        for d in self.exp_dirs:
            for r in sorted(d.iterdir()):
                if not self._looks_like_run(r):
                    continue
                if r.is_symlink():
                    self.skipped.append(("runs", r.name, "its folder is a symlink; not "
                                                         "followed"))
                    continue
                try:
                    run = self._run(d, r)
                except _Bad as exc:
                    self.skipped.append(("runs", r.name, str(exc)))
                    continue
                if run.run_id in self._run_dirs:
                    self.skipped.append(("runs", r.name, f"its run id {run.run_id!r} is also "
                                                         f"that of {self._run_dirs[run.run_id]}"))
                    continue
                self._run_dirs[run.run_id] = r
                out.append(run)
        out.sort(key=lambda r: (r.start_time or 0, r.run_id))
        return out

    def _run(self, d: Path, r: Path) -> SourceRun:
        meta = _yaml(r / "meta.yaml")
        run_id = str(meta.get("run_id") or meta.get("run_uuid") or r.name)
        status = meta.get("status", 1)
        if isinstance(status, int) and not isinstance(status, bool):
            status = RUN_STATUSES.get(status, str(status))
        return SourceRun(run_id, str(meta.get("experiment_id", d.name)),
                         _str(meta.get("run_name")) or None, str(status),
                         _int(meta.get("start_time")), _int(meta.get("end_time")),
                         str(meta.get("lifecycle_stage") or "active"), _str(meta.get("user_id")),
                         _str(meta.get("artifact_uri")))

    def params(self, run_ids: list[str]) -> dict[str, dict[str, str]]:
        return {r: self._key_files(self._run_dirs[r] / "params", f"run {r} param")
                for r in run_ids}

    def tags(self, run_ids: list[str]) -> dict[str, dict[str, str]]:
        return {r: self._key_files(self._run_dirs[r] / "tags", f"run {r} tag")
                for r in run_ids}

    def inputs(self, run_ids: list[str]) -> dict[str, tuple[list[Any], list[str]]]:
        """Each run's dataset inputs: ``<run>/inputs/<id>/meta.yaml`` pointing at
        ``<experiment>/datasets/<dataset id>/meta.yaml`` (model inputs: none here)."""
        from ..tracking.entities import Dataset, DatasetInput, InputTag

        out: dict[str, tuple[list[Any], list[str]]] = {}
        for run_id in run_ids:
            folder = self._run_dirs[run_id] / "inputs"
            if not folder.is_dir() or folder.is_symlink():
                continue
            for d in sorted(folder.iterdir()):
                try:
                    meta = _yaml(d / "meta.yaml")
                    if meta.get("source_type") != "DATASET":
                        continue
                    ds_dir = self._run_dirs[run_id].parent / "datasets" / str(meta["source_id"])
                    ds = _yaml(ds_dir / "meta.yaml")
                    tags = meta.get("tags") or {}
                    if not isinstance(tags, dict):
                        raise _Bad(f"its tags {tags!r:.80} are not a mapping")
                    out.setdefault(run_id, ([], []))[0].append(DatasetInput(
                        Dataset(ds.get("name"), ds.get("digest"), ds.get("source_type"),
                                ds.get("source"), ds.get("schema"), ds.get("profile")),
                        [InputTag(k, v) for k, v in tags.items()]))
                except (_Bad, KeyError) as exc:
                    self.skipped.append(("datasets", f"run {run_id} input {d.name}",
                                         str(exc) if isinstance(exc, _Bad)
                                         else f"its meta.yaml has no {exc}"))
        return out

    def _metric_files(self, run_id: str) -> dict[str, str]:
        folder = self._run_dirs[run_id] / "metrics"
        if not folder.is_dir() or folder.is_symlink():
            return {}
        return dict(_walk_files(folder))

    def _parse(self, run_id: str, key: str, path: str) -> Any:
        """(values, steps, stamps) of one metric file, or None when it cannot be read.

        A last line without its newline is a torn write: it is left out. Any other line
        that is not ``timestamp value [step]`` leaves the whole key out.
        """
        import numpy as np

        what = f"{run_id} {key!r}"
        report = (run_id, key) not in self._reported
        self._reported.add((run_id, key))
        why = None
        try:
            if os.path.islink(path):
                raise _Bad("a symlink; not followed")
            with open(path, "rb") as f:
                data = f.read()
            lines = data.split(b"\n")
            torn = lines.pop() if lines else b""
            if torn.strip() and report:
                self.skipped.append(("metric points", what, f"its last line {torn[:40]!r} has "
                                                            "no newline (a torn write); left "
                                                            "out"))
            rows = [line.split() for line in lines if line.strip()]
            for n, x in enumerate(rows, 1):
                if len(x) not in (2, 3):
                    raise _Bad(f"line {n} {b' '.join(x)[:60]!r} is not 'timestamp value step'")
            stamps = np.array([int(x[0]) for x in rows], np.int64)
            values = np.array([float(x[1]) for x in rows], np.float64)
            steps = np.array([int(x[2]) if len(x) > 2 else 0 for x in rows], np.int64)
        except _Bad as exc:
            why = str(exc)
        except (ValueError, OverflowError) as exc:
            why = f"a line is not 'timestamp value step' with integer timestamp and step ({exc})"
        except OSError as exc:
            why = f"cannot be read: {exc.strerror or exc}"
        if why is not None:
            if report:
                self.skipped.append(("metric points", what, f"metrics/{key}: {why}; this "
                                                            "metric is left out"))
            return None
        return values, steps, stamps

    def metric_counts(self, run_ids: list[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in run_ids:
            for key, path in self._metric_files(r).items():
                parsed = self._parse(r, key, path)
                if parsed is not None and len(parsed[0]):
                    out.setdefault(r, {})[key] = len(parsed[0])
        return out

    def metrics(self, run_ids: list[str]) -> Iterator[MetricBatch]:
        import numpy as np

        for r in run_ids:
            keys: list[str] = []
            parts: list[Any] = []
            for key, path in sorted(self._metric_files(r).items()):
                parsed = self._parse(r, key, path)
                if parsed is None or not len(parsed[0]):
                    continue
                parts.append(parsed)
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
            for m in sorted(models.iterdir()):
                if not m.is_dir():
                    continue
                try:
                    meta = _yaml(m / "meta.yaml")
                    if meta.get("lifecycle_stage") == "deleted":
                        continue
                    status = meta.get("status")
                    lm = LoggedModel(str(meta.get("model_id", m.name)), d.name,
                                     str(meta.get("name", "model")),
                                     _str(meta.get("artifact_location")),
                                     _str(meta.get("source_run_id")),
                                     _int(meta.get("creation_timestamp")) or 0,
                                     _str(meta.get("model_type")),
                                     MODEL_STATUS.get(status, str(status or "READY"))
                                     if not isinstance(status, bool) else "READY",
                                     _str(meta.get("status_message")),
                                     _int(meta.get("last_updated_timestamp")))
                    lm.tags = self._key_files(m / "tags", f"logged model {m.name} tag")
                    lm.params = self._key_files(m / "params", f"logged model {m.name} param")
                    lm.metrics = self._model_metrics(m)
                    out.append(lm)
                except _Bad as exc:
                    self.skipped.append(("logged models", m.name, str(exc)))
        out.sort(key=lambda m: (m.creation_time, m.model_id))
        return out

    def _model_metrics(self, m: Path) -> list[tuple[Any, ...]]:
        """A logged model's points: ``metrics/<key>`` lines "timestamp value step run_id
        [dataset_name dataset_digest]" (MLflow's file store)."""
        out: list[tuple[Any, ...]] = []
        for key, text in self._key_files(m / "metrics", f"logged model {m.name} metric").items():
            for line in text.splitlines():
                parts = line.split()
                if len(parts) not in (4, 6):
                    self.skipped.append(("logged model metrics", f"{m.name} {key!r}",
                                         f"a line has {len(parts)} fields, not 4 or 6"))
                    continue
                try:
                    ts, value, step = int(parts[0]), float(parts[1]), int(parts[2])
                except ValueError:
                    self.skipped.append(("logged model metrics", f"{m.name} {key!r}",
                                         f"a line is not 'timestamp value step ...': "
                                         f"{line[:80]!r}"))
                    continue
                ds = (parts[4], parts[5]) if len(parts) == 6 else (None, None)
                out.append((key, value, step, ts, parts[3], *ds))
        return out

    def model_outputs(self) -> list[tuple[str, str, int]]:
        """(run id, model id, step): ``<run>/outputs/<id>/meta.yaml`` (MLFLOW's file
        store writes the model id as both source and destination there)."""
        out = []
        for run_id, d in self._run_dirs.items():
            folder = d / "outputs"
            if not folder.is_dir() or folder.is_symlink():
                continue
            for o in sorted(folder.iterdir()):
                try:
                    meta = _yaml(o / "meta.yaml")
                except _Bad as exc:
                    self.skipped.append(("logged models", f"run {run_id} output {o.name}",
                                         str(exc)))
                    continue
                if meta.get("destination_type") == "MODEL_OUTPUT":
                    out.append((run_id, str(meta.get("destination_id")),
                                _int(meta.get("step")) or 0))
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
        skipped: list[tuple[str, str]] = []
        if not folder.is_dir():
            return out, skipped
        for d in sorted(folder.iterdir()):
            if not d.is_dir():
                continue
            try:
                out.append(self._model(d))
            except _Bad as exc:
                skipped.append((d.name, str(exc)))
        return out, skipped

    def _model(self, d: Path) -> SourceModel:
        meta = _yaml(d / "meta.yaml")
        aliases = meta.get("aliases") or {}
        if not isinstance(aliases, dict):
            raise _Bad(f"{d / 'meta.yaml'}: aliases {aliases!r} is not a mapping")
        name = meta.get("name", d.name)
        model = SourceModel(str(name), _str(meta.get("description")),
                            _int(meta.get("creation_timestamp")),
                            self._key_files(d / "tags", f"model {name!r} tag"),
                            {str(a): _int(v) or 0 for a, v in aliases.items()})
        for v in sorted(d.iterdir()):
            if not v.name.startswith("version-") or not v.is_dir():
                continue
            try:
                vm = _yaml(v / "meta.yaml")
                number = _int(vm.get("version", v.name[len("version-"):]))
                if number is None or number < 1:
                    raise _Bad(f"version {number!r} is not a positive integer")
                model.versions.append(SourceVersion(
                    number, _str(vm.get("source")), _str(vm.get("run_id")),
                    str(vm.get("current_stage") or "None"), _str(vm.get("description")),
                    _str(vm.get("user_id")), _int(vm.get("creation_timestamp")),
                    _str(vm.get("run_link")), self._key_files(v / "tags", f"{name}/{v.name} tag")))
            except _Bad as exc:
                self.skipped.append(("model versions", f"{name}/{v.name}", str(exc)))
        model.versions.sort(key=lambda x: x.version)
        return model
