"""Importing MLflow's model registry: models, versions (same numbers), stages, aliases.

Version numbers are kept, so ``models:/name/3`` and ``models:/name@alias`` name the same
model after the import. Records are written through the registry's own files: a model's
``model.json`` and each ``versions/<n>.json`` are claimed exclusively with MLflow's creation
times, descriptions and tags; stages, aliases and deletions go through the registry's
public methods (so they land in its promotion log, commented "imported from MLflow").

Sources are rewritten to this store: an MLflow 3 logged model (``models:/m-...``) keeps its
source (the model keeps its id here) and the version its ``model_id``; a path inside a
run's artifacts (``mlflow-artifacts:/1/<run>/artifacts/model``, ``file:///.../<run>/artifacts/model``)
becomes ``runs:/<run>/model``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..store.events import now_ms
from . import _checks
from ._source import DELETED_STAGE, Source, SourceModel, SourceVersion
from ._summary import ImportSummary

if TYPE_CHECKING:
    from ..registry._registry import Registry
    from ..store.store import Store

COMMENT = "imported from MLflow"
MODEL_ID = re.compile(r"m-[0-9a-f]{32}")


def map_source(v: SourceVersion, models: set[str]) -> tuple[str, str | None]:
    """(the version's source in this store, why it may not load here or None). A
    ``models:/m-<id>`` source stays as it is: the logged model keeps its id here."""
    src = v.source or ""
    if src.startswith("models:/"):
        ref = src[len("models:/"):].strip("/")
        if ref in models:
            return src, None
        if "/" in ref or "@" in ref:
            return src, None  # another registered model's version: resolved by name
        return src, (f"its source {src} is an MLflow logged model that was not imported, "
                     "so the version does not load")
    if src.startswith("runs:/") or not v.run_id:
        return src, None
    marker = f"/{v.run_id}/artifacts"
    if marker in src:
        rest = src.split(marker, 1)[1].strip("/")
        if rest and _checks.relpath_problem(rest):
            return src, f"its source {src} leaves the run's artifacts; kept as given"
        return f"runs:/{v.run_id}/{rest}".rstrip("/"), None
    return src, None


def version_problem(v: SourceVersion) -> str | None:
    """Why version ``v`` may not become a record, or None."""
    if v.run_id is not None and (why := _checks.run_id_problem(v.run_id)):
        return why
    for what, text in (("source", v.source), ("description", v.description),
                       ("user", v.user_id), ("run link", v.run_link), ("stage", v.stage)):
        if why := _checks.text_problem(f"its {what}", text):
            return why
    return None


def checked_tags(tags: dict[str, str], owner: str, s: ImportSummary) -> dict[str, str]:
    """The tags whose key and value pass the checks; the others are listed as skipped."""
    out = {}
    for k, v in tags.items():
        why = _checks.key_problem("tag", k) or _checks.text_problem("its value", v)
        if why:
            s.skip("tags", f"{owner} tag {_checks.shown(k)}", why)
        else:
            out[k] = v
    return out


def import_registry(store: Store, source: Source, logged_models: set[str],
                    summary: ImportSummary) -> None:
    """Import every registered model of ``source`` (see the module docstring)."""
    from ..registry._registry import registry_for
    from ..registry.errors import RegistryError

    reg = registry_for(store.root)
    models, skipped = source.registered_models()
    for name, why in skipped:
        summary.skip("registered models", name, why)
    for m in models:
        try:
            _import_model(reg, m, logged_models, summary)
        except RegistryError as exc:
            summary.skip("registered models", m.name, f"{type(exc).__name__}: {exc}")


def _import_model(reg: Registry, m: SourceModel, logged_models: set[str],
                  s: ImportSummary) -> None:
    from ..registry._names import check_alias, check_model_name, check_stage
    from ..registry.errors import InvalidRegistryNameError

    name = check_model_name(m.name)
    if why := _checks.text_problem("its description", m.description):
        s.skip("registered models", name, why)
        return
    m.tags = checked_tags(m.tags, f"model {name!r}", s)
    good = []
    for v in m.versions:
        if why := version_problem(v):
            s.skip("model versions", f"{name}/{v.version}", why)
        else:
            v.tags = checked_tags(v.tags, f"{name}/{v.version}", s)
            good.append(v)
    m.versions = good
    home = reg.cache.home_key(name)  # claims go through reg.io: a folder or a bucket
    st = reg.cache.state(name)
    if st is not None and st.name != name:
        s.skip("registered models", name, f"trackbook renamed that model to {st.name!r}; "
                                          "not imported under the old name")
        return
    if st is None:
        reg.io.claim_model(home, {"name": name,
                                  "creation_timestamp": m.creation_time or now_ms(),
                                  "description": m.description, "tags": dict(m.tags),
                                  "user_id": None})
        s.add("registered models")
        st = reg.cache.state(name)
        assert st is not None
    elif st.deleted:
        s.skip("registered models", name, "it was deleted in trackbook; not brought back")
        return
    else:
        s.had("registered models")
        for k, v in m.tags.items():
            if k not in st.tags:
                reg.set_model_tag(name, k, v)
            elif st.tags[k] != v:
                s.skip("tags", f"model {name!r} tag {k!r}", "differs in trackbook; kept")
        if st.description is None and m.description:
            reg.update_model(name, m.description)

    top = reg.cache.max_version(name)
    for v in m.versions:
        src, why = map_source(v, logged_models)
        deleted = v.stage == DELETED_STAGE
        have = st.versions.get(v.version)
        if have is not None:
            if deleted:
                continue
            if have.run_id == v.run_id and have.source == src:
                s.had("model versions")
                if not have.deleted:
                    _grow_version(reg, name, v, have.tags, have.description)
            else:
                s.skip("model versions", f"{name}/{v.version}",
                       f"trackbook has another version {v.version} (source {have.source}); "
                       "not imported")
            continue
        for gap in range(top + 1, v.version):  # numbers MLflow no longer has: kept unused
            if reg.io.claim_version(home, gap, _record(name, gap, None, None)):
                reg.delete_version(name, gap, force=True)
        record = _record(name, v.version, v, src)
        if not reg.io.claim_version(home, v.version, record):
            s.skip("model versions", f"{name}/{v.version}",
                   "another process registered that number meanwhile; not imported")
            continue
        top = max(top, v.version)
        if deleted:
            reg.delete_version(name, v.version, force=True)
            continue
        s.add("model versions")
        if why:
            s.skip("model files", f"{name}/{v.version}", why)

    st = reg.cache.state(name)
    assert st is not None
    for v in m.versions:
        live = st.live(v.version)
        if live is None or v.stage in ("None", DELETED_STAGE):
            continue
        try:
            stage = check_stage(v.stage)
        except InvalidRegistryNameError:
            s.skip("stages", f"{name}/{v.version}", f"unknown stage {v.stage!r}")
            continue
        if live.stage == stage:
            s.had("stages")
        elif live.stage == "None":
            reg.transition_stage(name, v.version, stage, comment=COMMENT)
            s.add("stages")
        else:
            s.skip("stages", f"{name}/{v.version}", f"is {live.stage} in trackbook and "
                                                    f"{stage} in MLflow; left as is")
    for alias, num in sorted(m.aliases.items()):
        current = st.aliases.get(alias)
        if current == num:
            s.had("aliases")
            continue
        if current is not None:
            s.skip("aliases", f"{name}@{alias}", f"points at version {current} in trackbook "
                                                 f"and {num} in MLflow; left as is")
            continue
        try:
            check_alias(alias)
        except InvalidRegistryNameError as exc:
            s.skip("aliases", f"{name}@{alias}", str(exc))
            continue
        if st.live(num) is None:
            s.skip("aliases", f"{name}@{alias}", f"version {num} was not imported")
            continue
        reg.set_alias(name, alias, num, comment=COMMENT)
        s.add("aliases")


def _record(name: str, number: int, v: SourceVersion | None,
            source: str | None) -> dict[str, Any]:
    """A version file (the registry's ``versions/<n>.json`` shape) with MLflow's values."""
    record = {"name": name, "version": number, "source": source or "",
              "run_id": v.run_id if v else None, "description": v.description if v else None,
              "tags": dict(v.tags) if v else {}, "run_link": v.run_link if v else None,
              "creation_timestamp": (v.creation_time if v and v.creation_time else now_ms()),
              "user_id": v.user_id if v else None}
    ref = (source or "")[len("models:/"):].strip("/") if (source or "").startswith(
        "models:/") else ""
    if MODEL_ID.fullmatch(ref):  # MLflow 3's ModelVersion.model_id
        record["model_id"] = ref
    return record


def _grow_version(reg: Registry, name: str, v: SourceVersion, tags: dict[str, str],
                  description: str | None) -> None:
    """Tags and a description MLflow added to an already imported version."""
    for k, val in v.tags.items():
        if k not in tags:
            reg.set_version_tag(name, v.version, k, val)
    if description is None and v.description:
        reg.update_version(name, v.version, v.description)
