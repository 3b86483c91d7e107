"""Store-level registry API: every write is a file created exclusively (see ``_files``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..store.events import now_ms
from . import _names as n
from ._files import REGISTRY_DIR, FoldCache, LocalFiles, RegistryFiles
from ._fold import ModelState
from ._names import model_key
from .entities import HELD_STAGES, ModelVersion, PromotionEntry, RegisteredModel
from .errors import (
    ModelVersionNotFoundError,
    ProtectedVersionError,
    RegisteredModelExistsError,
    RegisteredModelNotFoundError,
    RegisteredModelRenamedError,
    RegistryConflictError,
    RegistryError,
    RollbackError,
)

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10_000


def _user() -> str:
    from ..tracking.context import user_name

    return user_name()


class Registry:
    """Registered models and versions of the store rooted at ``root``.

    Parameters
    ----------
    root
        The store folder; the registry lives in ``<root>/registry/``, or, when ``root`` is
        the local replica of an ``s3://`` store, in the bucket under ``registry/``.
    files
        Where the registry's files are (default: chosen from ``root`` as above).
    """

    def __init__(self, root: Path, files: RegistryFiles | None = None) -> None:
        self.root = Path(root)
        self.io = files if files is not None else files_for(self.root)
        self.cache = FoldCache(self.io)

    # -- reading -------------------------------------------------------------------------

    def _home(self, name: str) -> str:
        """The folder (key) of the model home ``name`` resolves to."""
        return self.cache.home_key(n.check_model_name(name))

    def _not_found(self, name: str, st: ModelState | None) -> RegisteredModelNotFoundError:
        if st is not None and st.name != name and name in st.former_names:
            gone = " and later deleted" if st.deleted else ""
            return RegisteredModelRenamedError(
                f"registered model {name!r} was renamed to {st.name!r}{gone}; use "
                f"models:/{st.name}/... and the name {st.name!r} from now on", name, st.name)
        if st is not None and st.name != name:
            return RegisteredModelNotFoundError(
                f"no registered model named {name!r}: the name is held by an unfinished "
                f"rename of {st.name!r} (run rename_registered_model({st.name!r}, {name!r}) "
                "again to finish it)")
        known = self.names()[:10]
        return RegisteredModelNotFoundError(
            f"no registered model named {name!r}; registered models: {known or 'none'}")

    def state(self, name: str) -> ModelState:
        """The live state of ``name``; raise if it is not registered (or was deleted, or
        renamed: the error then names the new name)."""
        st = self.cache.state(n.check_model_name(name))
        if st is None or st.deleted or st.name != name:
            raise self._not_found(name, st)
        return st

    def names(self) -> list[str]:
        """Names of the live registered models."""
        return sorted(st.name for st in self.cache.states() if not st.deleted)

    def models(self) -> list[RegisteredModel]:
        """The live registered models, by name (one read of each)."""
        live = [st for st in self.cache.states() if not st.deleted]
        return [st.registered_model() for st in sorted(live, key=lambda st: st.name)]

    def all_versions(self) -> list[ModelVersion]:
        """The live versions of every live model (one read of each model)."""
        live = [st for st in self.cache.states() if not st.deleted]
        return [st.entity(v) for st in sorted(live, key=lambda st: st.name)
                for v in st.live_versions()]

    def model(self, name: str) -> RegisteredModel:
        return self.state(name).registered_model()

    def version(self, name: str, version: Any) -> ModelVersion:
        st = self.state(name)
        num = n.check_version(version)
        v = st.live(num)
        if v is None:
            live = [x.version for x in st.live_versions()]
            raise ModelVersionNotFoundError(
                f"registered model {name!r} has no version {num}; its versions are "
                f"{live or 'none'}")
        return st.entity(v)

    def versions(self, name: str) -> list[ModelVersion]:
        st = self.state(name)
        return [st.entity(v) for v in st.live_versions()]

    def by_alias(self, name: str, alias: str) -> ModelVersion:
        st = self.state(name)
        num = st.aliases.get(alias)
        if num is None:
            raise ModelVersionNotFoundError(
                f"registered model {name!r} has no alias {alias!r}; its aliases are "
                f"{sorted(st.aliases) or 'none'}")
        v = st.live(num)  # deleting a version removes its aliases: always live
        assert v is not None
        return st.entity(v)

    def latest(self, name: str, stage: str | None = None) -> ModelVersion:
        """The newest version (in ``stage`` when given)."""
        st = self.state(name)
        if stage is None:
            live = st.live_versions()
            if not live:
                raise ModelVersionNotFoundError(f"registered model {name!r} has no versions")
            return st.entity(live[-1])
        stage = n.check_stage(stage)
        v = st.latest_in(stage)
        if v is None:
            raise ModelVersionNotFoundError(
                f"registered model {name!r} has no version in stage {stage}")
        return st.entity(v)

    def history(self, name: str) -> list[PromotionEntry]:
        """The promotion log, oldest first."""
        return list(self.state(name).log)

    # -- writing -------------------------------------------------------------------------

    def _append(self, name: str, make: Callable[[ModelState], dict[str, Any] | None],
                allow_deleted: bool = False) -> tuple[ModelState, int | None]:
        """Validate-then-claim: ``make(state)`` builds the event from the state as of event
        ``seq`` (raising if the change is not allowed, or returning None for a no-op) and the
        event is created as ``seq + 1``; on a clash, re-read and try again."""
        home = self._home(name)
        for _ in range(MAX_ATTEMPTS):
            st = self.cache.state(name)
            if st is None or st.name != name or (st.deleted and not allow_deleted):
                raise self._not_found(name, st)
            event = make(st)
            if event is None:
                return st, None
            for field, value in event.items():  # comments, and anything added later
                if isinstance(value, str):
                    n.check_text_value(field, value)
            seq = st.seq + 1
            event.setdefault("t", now_ms())
            event.setdefault("user", _user())
            if self.io.claim_event(home, seq, event):
                st = self.cache.state(name)
                assert st is not None
                return st, seq
        raise RegistryConflictError(f"gave up writing to registered model {name!r} after "
                                    f"{MAX_ATTEMPTS} clashes with other writers")

    def create_model(self, name: str, description: str | None = None,
                     tags: dict[str, Any] | None = None, exist_ok: bool = False,
                     ) -> RegisteredModel:
        """Register ``name``; raise if it exists unless ``exist_ok``."""
        home = self._home(name)
        tags = {n.check_tag_key(k): n.check_text_value(f"tag {k!r} value", val)
                for k, val in (tags or {}).items()}
        n.check_text_value("description", description)
        record = {"name": name, "creation_timestamp": now_ms(), "description": description,
                  "tags": tags, "user_id": _user()}
        if self.io.claim_model(home, record):
            return self.model(name)

        def revive(st: ModelState) -> dict[str, Any] | None:
            if not st.deleted:
                if exist_ok:
                    return None
                raise RegisteredModelExistsError(
                    f"a registered model named {name!r} already exists; use "
                    "get_registered_model, or register_model to add a version")
            return {"op": "create_model", "description": description, "tags": tags}

        self._append(name, revive, allow_deleted=True)
        return self.model(name)

    def create_version(self, name: str, source: str, run_id: str | None = None,
                       tags: dict[str, Any] | None = None, description: str | None = None,
                       run_link: str | None = None,
                       model_id: str | None = None) -> ModelVersion:
        """Add a version: claim ``versions/<max+1>.json``, on a clash the next number."""
        st = self.state(name)
        home = self._home(name)
        tags = {n.check_tag_key(k): n.check_text_value(f"tag {k!r} value", val)
                for k, val in (tags or {}).items()}
        n.check_text_value("description", description)
        n.check_text_value("source", source)
        num = self.cache.max_version(name) + 1
        for _ in range(MAX_ATTEMPTS):
            record = {"name": name, "version": num, "source": source, "run_id": run_id,
                      "description": description, "tags": tags, "run_link": run_link,
                      "creation_timestamp": now_ms(), "user_id": _user()}
            if model_id is not None:
                record["model_id"] = model_id
            if self.io.claim_version(home, num, record):
                break
            num += 1
        else:
            raise RegistryConflictError(f"could not claim a version number of {name!r}")
        del st
        log.info("registered %s version %d from %s", name, num, source)
        # Under the model's current name: a rename may have committed since our check, and
        # the version still belongs to the (renamed) model.
        after = self.cache.state(name)
        assert after is not None
        return after.entity(after.versions[num])

    def update_model(self, name: str, description: str | None) -> RegisteredModel:
        n.check_text_value("description", description)
        self._append(name, lambda st: {"op": "update_model", "description": description})
        return self.model(name)

    def rename_model(self, name: str, new_name: str,
                     comment: str | None = None) -> RegisteredModel:
        """Rename ``name`` to ``new_name``; versions, aliases, tags and the promotion log move
        with it, and ``name`` then fails with an error naming ``new_name``.

        The new name's folder gets a pointer to the model's folder (claimed exclusively: two
        models never get one name), then a ``rename`` event is claimed in the model's folder:
        that is the commit, atomic with every other write to the model.
        """
        n.check_model_name(new_name)
        st = self.state(name)
        if new_name == name:
            return st.registered_model()
        home = self.cache.home_key(name)
        self._reserve(new_name, home, name)

        def make(st: ModelState) -> dict[str, Any]:
            return {"op": "rename", "from": name, "to": new_name, "comment": comment}

        self._run_hooks(*self._append(name, make))
        log.info("renamed registered model %s to %s", name, new_name)
        return self.model(new_name)

    def _reserve(self, new_name: str, home: str, old: str) -> None:
        """Make ``new_name`` resolve to folder ``home``, or raise if it names another model."""
        pointer = {"name": new_name, "home": home, "renamed_from": old,
                   "creation_timestamp": now_ms(), "user_id": _user()}
        if self.io.claim_model(model_key(new_name), pointer):
            return
        if self.cache.home_key(new_name) == home:  # renaming back, or finishing a rename
            return
        target = self.cache.state(new_name)
        if target is not None and target.name == new_name and not target.deleted:
            raise RegisteredModelExistsError(
                f"cannot rename {old!r} to {new_name!r}: a registered model named "
                f"{new_name!r} already exists")
        was = ("a deleted model" if target is not None and target.name == new_name
               else f"a model now named {target.name!r}" if target is not None else "a model")
        raise RegisteredModelExistsError(
            f"cannot rename {old!r} to {new_name!r}: that name belonged to {was}, and its "
            "history keeps the name; pick another name")

    def set_model_tag(self, name: str, key: str, value: Any) -> None:
        n.check_tag_key(key)
        text = n.check_text_value(f"tag {key!r} value", value)
        self.state(name)
        self._append(name, lambda st: {"op": "model_tag", "key": key, "value": text})

    def delete_model_tag(self, name: str, key: str) -> None:
        self.state(name)
        self._append(name, lambda st: {"op": "model_tag", "key": key, "value": None})

    def _live_version(self, st: ModelState, version: Any) -> int:
        num = n.check_version(version)
        if st.deleted or st.live(num) is None:
            live = [x.version for x in st.live_versions()]
            raise ModelVersionNotFoundError(
                f"registered model {st.name!r} has no version {num}; its versions are "
                f"{live or 'none'}")
        return num

    def update_version(self, name: str, version: Any, description: str | None) -> ModelVersion:
        n.check_text_value("description", description)
        def make(st: ModelState) -> dict[str, Any]:
            return {"op": "update_version", "version": self._live_version(st, version),
                    "description": description}

        self._append(name, make)
        return self.version(name, version)

    def set_version_tag(self, name: str, version: Any, key: str, value: Any) -> None:
        n.check_tag_key(key)
        text = n.check_text_value(f"tag {key!r} value", value)

        def make(st: ModelState) -> dict[str, Any]:
            return {"op": "version_tag", "version": self._live_version(st, version), "key": key,
                    "value": text}

        self._append(name, make)

    def delete_version_tag(self, name: str, version: Any, key: str) -> None:
        self.set_version_tag(name, version, key, None)

    @staticmethod
    def _protection(st: ModelState, num: int) -> list[str]:
        v = st.versions[num]
        held = [f"alias @{a}" for a in st.aliases_of(num)]
        if v.stage in HELD_STAGES:
            held.append(f"stage {v.stage}")
        return held

    def delete_version(self, name: str, version: Any, force: bool = False) -> None:
        """Delete a version; refuse while an alias or Staging/Production points at it."""
        def make(st: ModelState) -> dict[str, Any]:
            num = self._live_version(st, version)
            held = self._protection(st, num)
            if held and not force:
                raise ProtectedVersionError(
                    f"version {num} of {name!r} is in use ({', '.join(held)}): deleting it "
                    f"would break models:/ URIs. Move the alias / transition the stage "
                    f"first, or pass force=True")
            return {"op": "delete_version", "version": num, "force": bool(force)}

        self._run_hooks(*self._append(name, make))

    def delete_model(self, name: str, force: bool = False) -> None:
        """Delete a registered model and its versions (refused while any is in use)."""
        def make(st: ModelState) -> dict[str, Any]:
            if st.deleted:
                raise RegisteredModelNotFoundError(f"no registered model named {name!r}")
            held = [f"version {v.version}: {', '.join(h)}" for v in st.live_versions()
                    if (h := self._protection(st, v.version))]
            if held and not force:
                raise ProtectedVersionError(
                    f"registered model {name!r} has versions in use ({'; '.join(held)}): "
                    "deleting it would break models:/ URIs. Pass force=True to delete anyway")
            return {"op": "delete_model", "force": bool(force)}

        self._run_hooks(*self._append(name, make))

    # -- promotions ----------------------------------------------------------------------

    def transition_stage(self, name: str, version: Any, stage: Any,
                         archive_existing_versions: bool = False,
                         comment: str | None = None) -> ModelVersion:
        """Move a version to ``stage``; with ``archive_existing_versions``, the other versions
        in that stage (Staging/Production) are archived in the same event."""
        to = n.check_stage(stage)

        def make(st: ModelState) -> dict[str, Any]:
            return {"op": "stage", "version": self._live_version(st, version), "stage": to,
                    "archive_existing": bool(archive_existing_versions), "comment": comment}

        self._run_hooks(*self._append(name, make))
        return self.version(name, version)

    def set_alias(self, name: str, alias: str, version: Any,
                  comment: str | None = None) -> None:
        """Point ``alias`` at ``version`` (moving it from any other version, atomically)."""
        n.check_alias(alias)

        def make(st: ModelState) -> dict[str, Any] | None:
            num = self._live_version(st, version)
            if st.aliases.get(alias) == num:
                return None
            return {"op": "alias", "alias": alias, "version": num, "comment": comment}

        self._run_hooks(*self._append(name, make))

    def delete_alias(self, name: str, alias: str, comment: str | None = None) -> None:
        def make(st: ModelState) -> dict[str, Any]:
            if alias not in st.aliases:
                raise ModelVersionNotFoundError(
                    f"registered model {name!r} has no alias {alias!r}; its aliases are "
                    f"{sorted(st.aliases) or 'none'}")
            return {"op": "alias", "alias": alias, "version": None, "comment": comment}

        self._run_hooks(*self._append(name, make))

    def rollback(self, name: str, alias_or_stage: str,
                 comment: str | None = None) -> ModelVersion:
        """Return an alias or stage to the version that held it before the current one.

        For a stage, the current holder goes back to the stage it had before it was
        promoted and the previous holder returns to the stage. Rolling back again goes one
        more step back. Returns the restored version.
        """
        def make(st: ModelState) -> dict[str, Any]:
            try:
                stage = n.check_stage(alias_or_stage)
            except ValueError:
                stage = None
            if stage is not None and stage in HELD_STAGES:
                prev = st.previous_stage_holder(stage)
                if prev is None:
                    raise RollbackError(
                        f"cannot roll back {stage} of {name!r}: no earlier version held it "
                        "(or none that is not deleted)")
                current, to, index = prev
                i = st.stage_holder(stage)
                assert i is not None
                back_to = st.stage_history[stage][i[0]][1]
                return {"op": "rollback", "kind": "stage", "target": stage, "from": current,
                        "to": to, "index": index, "back_to": back_to, "comment": comment}
            if stage is not None:
                raise RollbackError(f"cannot roll back stage {stage}: only Staging and "
                                    "Production (and aliases) have holders to return to")
            alias = n.check_alias(alias_or_stage)
            prev = st.previous_alias_holder(alias)
            if prev is None:
                raise RollbackError(
                    f"cannot roll back alias {alias!r} of {name!r}: "
                    + ("it is not set" if alias not in st.aliases
                       else "no earlier (non-deleted) version held it"))
            current, to, index = prev
            return {"op": "rollback", "kind": "alias", "target": alias, "from": current,
                    "to": to, "index": index, "comment": comment}

        st, seq = self._append(name, make)
        self._run_hooks(st, seq)
        entry = next(e for e in reversed(st.log) if e.seq == seq)
        return st.entity(st.versions[entry.to])

    # -- hooks ---------------------------------------------------------------------------

    def _run_hooks(self, st: ModelState, seq: int | None) -> None:
        if seq is None:
            return
        from .hooks import fire

        entries = []
        for e in reversed(st.log):  # ours is near the end
            if e.seq < seq:
                break
            if e.seq == seq:
                entries.append(e)
        for entry in reversed(entries):
            fire(entry)


def files_for(root: Path) -> RegistryFiles:
    """The registry files of the store at ``root``: its folder, or the bucket when ``root``
    is the local replica of an ``s3://`` store (each machine has its own replica, so the
    registry must be settled in the bucket)."""
    if (root / "sync" / "remote.json").is_file():
        from ..tracking.uri import get_store
        from ._objects import ObjectFiles

        objects = getattr(get_store(str(root)), "objects", None)
        if objects is None:
            raise RegistryError(f"{root} is the replica of an s3:// store, but its store "
                                "object has no bucket to keep the registry in")
        private = root / REGISTRY_DIR
        if private.is_dir() and any(private.iterdir()):
            log.warning("%s holds registry files written only on this machine (by a "
                        "trackbook older than the registry on %s); they are not read: the "
                        "registry of an s3:// store is its bucket's", private, objects.url)
        return ObjectFiles(objects, copies=root / "registry-cache")
    return LocalFiles(root / REGISTRY_DIR)


_registries: dict[Path, Registry] = {}
_lock = threading.Lock()


def registry_for(root: Path) -> Registry:
    """The (cached) registry of the store at ``root``."""
    root = Path(root)
    reg = _registries.get(root)
    if reg is None:
        with _lock:
            reg = _registries.setdefault(root, Registry(root))
    return reg
