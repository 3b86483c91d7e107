"""Dump what a store holds through MLflow's client API, as plain JSON, for comparison.

The same code reads both sides: MLflow's ``MlflowClient`` inside MLflow's venv and
``trackbook.Client`` in the test process. Ids differ between the two stores, so every
run, logged-model and experiment id (and the store's own folder) is replaced by a label
built from names the script chose. A section that fails records its error instead, so one
missing method shows up as one difference, not as a lost dump.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any


def dump(client: Any, store_dir: str, search_logged_models: Any = None) -> dict:
    """Everything comparable in the store ``client`` reads; ``store_dir`` is its folder.

    ``search_logged_models`` stands in for ``client.search_logged_models`` (same keywords)
    where the client has none; the gap is then recorded under ``errors``.
    """
    out: dict[str, Any] = {"errors": {}}
    if search_logged_models is None:
        search_logged_models = client.search_logged_models
    elif not hasattr(client, "search_logged_models"):
        out["errors"]["client.search_logged_models"] = "the client has no such method"
    exps = _guard(out, "experiments", lambda: [
        e for e in client.search_experiments(view_type=3) if e.name != "Default"])
    runs: list = []
    for exp in exps or []:
        runs += _guard(out, f"runs:{exp.name}", lambda exp=exp: client.search_runs(
            [exp.experiment_id], run_view_type=3, max_results=1000)) or []
    runs.sort(key=lambda r: (r.info.start_time or 0, r.info.run_name or ""))
    models: list = []
    for exp in exps or []:
        models += _guard(out, f"logged_models:{exp.name}", lambda exp=exp: list(
            search_logged_models(experiment_ids=[exp.experiment_id]))) or []
    labels = _labels(exps or [], runs, models, store_dir)
    out["experiments"] = {e.name: {"tags": _tags(e.tags, labels),
                                   "lifecycle_stage": e.lifecycle_stage} for e in exps or []}
    exp_names = {e.experiment_id: e.name for e in exps or []}
    out["runs"] = [_run(client, r, labels, exp_names, out) for r in runs]
    out["logged_models"] = [_model(m, labels, out) for m in models]
    out["registered_models"] = _guard(out, "registered_models",
                                      lambda: _registered(client, labels)) or []
    return out


def _guard(out: dict, section: str, fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # recorded as a difference, not raised
        out["errors"][section] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return None


def _labels(exps: list, runs: list, models: list, store_dir: str) -> list[tuple[str, str]]:
    """(id or path, label) pairs, longest first, for replacing ids inside values."""
    pairs = [(str(Path(store_dir).resolve()), "<store>"), (str(store_dir), "<store>")]
    pairs += [(e.experiment_id, f"<exp:{e.name}>") for e in exps]
    pairs += [(r.info.run_id, f"<run:{r.info.run_name}>") for r in runs]
    pairs += [(m.model_id, f"<model:{m.name}>") for m in models]
    return sorted(pairs, key=lambda p: -len(p[0]))


def _sub(value: Any, labels: list[tuple[str, str]]) -> Any:
    if not isinstance(value, str):
        return value
    for raw, label in labels:
        if len(raw) > 3:  # experiment ids like "1" would replace digits everywhere
            value = value.replace(raw, label)
    return value


def _tags(tags: dict, labels: list) -> dict:
    return {k: _sub(v, labels) for k, v in sorted((tags or {}).items())}


def _run(client: Any, run: Any, labels: list, exp_names: dict, out: dict) -> dict:
    info, data = run.info, run.data
    name = info.run_name
    rec: dict[str, Any] = {
        "name": name, "experiment": exp_names.get(info.experiment_id, info.experiment_id),
        "status": info.status, "lifecycle_stage": info.lifecycle_stage,
        "params": dict(sorted(data.params.items())), "tags": _tags(data.tags, labels),
        "metrics": {}, "artifacts": [], "inputs": [], "model_outputs": []}
    for key in sorted(data.metrics):
        hist = _guard(out, f"history:{name}:{key}",
                      lambda key=key: client.get_metric_history(info.run_id, key)) or []
        rec["metrics"][key] = [[m.step, m.value] for m in sorted(
            hist, key=lambda m: (m.step, m.timestamp))]
    rec["artifacts"] = _guard(out, f"artifacts:{name}",
                              lambda: _artifacts(client, info.run_id, None)) or []
    inputs = getattr(run, "inputs", None)
    for di in getattr(inputs, "dataset_inputs", None) or []:
        ds = di.dataset
        rec["inputs"].append({
            "name": ds.name, "digest": ds.digest, "source_type": ds.source_type,
            "source": ds.source, "schema": ds.schema, "profile": ds.profile,
            "tags": {t.key: t.value for t in di.tags}})
    rec["inputs"].sort(key=lambda d: (d["name"], d["digest"]))
    outputs = getattr(run, "outputs", None)
    for mo in getattr(outputs, "model_outputs", None) or []:
        rec["model_outputs"].append([_sub(mo.model_id, labels), mo.step])
    rec["model_outputs"].sort()  # MLflow's SQL store returns them in no set order
    return rec


def _artifacts(client: Any, run_id: str, path: str | None) -> list[str]:
    found = []
    for f in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, f.path) if f.is_dir else [f.path]
    return sorted(found)


def _local(uri: str) -> Path:
    return Path(re.sub(r"^file://", "", uri or ""))


def _model(model: Any, labels: list, out: dict) -> dict:
    rec: dict[str, Any] = {
        "name": model.name, "run": _sub(model.source_run_id, labels),
        "model_type": model.model_type, "params": dict(sorted((model.params or {}).items())),
        "tags": _tags(model.tags, labels), "status": str(model.status).split(".")[-1],
        "metrics": sorted([m.key, m.step, m.value, _sub(m.run_id, labels)]
                          for m in model.metrics or []),
        "files": [], "flavors": {}, "mlmodel_keys": []}
    root = _local(model.artifact_location)
    if root.is_dir():
        rec["files"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        mlmodel = root / "MLmodel"
        if mlmodel.exists():
            parsed = _guard(out, f"MLmodel:{model.name}", lambda: _yaml(mlmodel)) or {}
            rec["mlmodel_keys"] = sorted(parsed)
            rec["flavors"] = {k: sorted(v) for k, v in (parsed.get("flavors") or {}).items()}
    else:
        out["errors"][f"model_files:{model.name}"] = f"no folder at {model.artifact_location}"
    return rec


def _yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def _registered(client: Any, labels: list) -> list[dict]:
    found = []
    for rm in sorted(client.search_registered_models(), key=lambda m: m.name):
        # each version read by get_model_version: MLflow's SQL store leaves the aliases out
        # of search_model_versions' results (its get_model_version has them)
        versions = [client.get_model_version(rm.name, v.version)
                    for v in client.search_model_versions(f"name = '{rm.name}'")]
        found.append({
            "name": rm.name, "description": rm.description or "",
            "tags": _tags(rm.tags, labels), "aliases": dict(sorted(
                (getattr(rm, "aliases", None) or {}).items())),
            "versions": [{"version": str(v.version), "run": _sub(v.run_id, labels),
                          "source": _sub(v.source, labels), "status": str(v.status),
                          "tags": _tags(v.tags, labels),
                          "aliases": sorted(getattr(v, "aliases", None) or []),
                          "model_id": _sub(getattr(v, "model_id", None), labels)}
                         for v in sorted(versions, key=lambda v: int(v.version))]})
    return found


def write(client: Any, store_dir: str, path: str, search_logged_models: Any = None) -> None:
    """Dump to ``path`` as JSON (values that are not JSON become their ``str``)."""
    text = json.dumps(dump(client, store_dir, search_logged_models), default=str, indent=1,
                      sort_keys=True)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
