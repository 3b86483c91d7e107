"""The current state of one registered model = its records folded in sequence order.

Version records (``versions/<n>.json``) bring versions into existence; numbered events
(``events/<seq>.json``) change everything else. The fold is deterministic, so every reader
computes the same state and the same promotion log. ``from`` values in the log are computed
here, from the state before each event, never trusted from the writer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .entities import HELD_STAGES, ModelVersion, PromotionEntry, RegisteredModel

log = logging.getLogger(__name__)


@dataclass
class VersionState:
    version: int
    source: str
    run_id: str | None
    created: int
    user: str | None
    description: str | None
    tags: dict[str, str]
    run_link: str | None = None
    stage: str = "None"
    deleted: bool = False
    updated: int = 0
    model_id: str | None = None  # the MLflow 3 logged model it was registered from

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> VersionState:
        return cls(version=int(r["version"]), source=r["source"], run_id=r.get("run_id"),
                   created=int(r["creation_timestamp"]), user=r.get("user_id"),
                   description=r.get("description"), tags=dict(r.get("tags") or {}),
                   run_link=r.get("run_link"), updated=int(r["creation_timestamp"]),
                   model_id=r.get("model_id"))


@dataclass
class ModelState:
    """Everything known about one registered model after folding ``seq`` events."""

    name: str
    created: int
    description: str | None
    tags: dict[str, str]
    updated: int = 0
    deleted: bool = False
    seq: int = 0
    versions: dict[int, VersionState] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    # alias -> versions that held it, oldest first (the last one holds it now)
    alias_history: dict[str, list[int]] = field(default_factory=dict)
    # stage -> [(version, the stage it came from)], oldest first
    stage_history: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    log: list[PromotionEntry] = field(default_factory=list)
    # names this model had before, oldest first (``rename`` events)
    former_names: list[str] = field(default_factory=list)

    # -- reading -------------------------------------------------------------------------

    def live(self, version: int) -> VersionState | None:
        v = self.versions.get(version)
        return v if v is not None and not v.deleted else None

    def live_versions(self) -> list[VersionState]:
        return [v for _, v in sorted(self.versions.items()) if not v.deleted]

    def aliases_of(self, version: int) -> list[str]:
        return sorted(a for a, v in self.aliases.items() if v == version)

    def entity(self, v: VersionState) -> ModelVersion:
        return ModelVersion(name=self.name, version=v.version, creation_timestamp=v.created,
                            last_updated_timestamp=v.updated, description=v.description,
                            user_id=v.user, current_stage=v.stage, source=v.source,
                            run_id=v.run_id, tags=dict(v.tags), run_link=v.run_link,
                            aliases=self.aliases_of(v.version), model_id=v.model_id)

    def latest_in(self, stage: str) -> VersionState | None:
        found = [v for v in self.live_versions() if v.stage == stage]
        return found[-1] if found else None

    def registered_model(self) -> RegisteredModel:
        from .entities import STAGES

        latest = [self.entity(v) for s in STAGES if (v := self.latest_in(s)) is not None]
        return RegisteredModel(name=self.name, creation_timestamp=self.created,
                               last_updated_timestamp=self.updated,
                               description=self.description, tags=dict(self.tags),
                               latest_versions=latest, aliases=dict(sorted(self.aliases.items())))

    def stage_holder(self, stage: str) -> tuple[int, int] | None:
        """(index in the stage history, version) of the current holder of ``stage``: the
        most recent version promoted into it that is still there."""
        hist = self.stage_history.get(stage, [])
        for i in range(len(hist) - 1, -1, -1):
            v = self.live(hist[i][0])
            if v is not None and v.stage == stage:
                return i, v.version
        return None

    def previous_stage_holder(self, stage: str) -> tuple[int, int, int] | None:
        """(current version, previous version, index of the previous entry) for a rollback."""
        cur = self.stage_holder(stage)
        if cur is None:
            return None
        i, current = cur
        hist = self.stage_history[stage]
        for j in range(i - 1, -1, -1):
            ver = hist[j][0]
            if ver != current and self.live(ver) is not None:
                return current, ver, j
        return None

    def previous_alias_holder(self, alias: str) -> tuple[int, int, int] | None:
        """(current version, previous version, its index in the alias history)."""
        current = self.aliases.get(alias)
        if current is None:
            return None
        hist = self.alias_history.get(alias, [])
        for j in range(len(hist) - 1, -1, -1):
            ver = hist[j]
            if ver != current and self.live(ver) is not None:
                return current, ver, j
        return None

    # -- folding -------------------------------------------------------------------------

    def add_version(self, record: dict[str, Any]) -> None:
        v = VersionState.from_record(record)
        if v.version not in self.versions:
            self.versions[v.version] = v
            self.updated = max(self.updated, v.created)

    def apply(self, seq: int, e: dict[str, Any]) -> None:
        """Fold event number ``seq``; an event that no longer makes sense is skipped."""
        self.seq = seq
        t = int(e.get("t", 0))
        op = e.get("op")
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            log.warning("registry model %r: unknown event %r (seq %d) skipped", self.name, op, seq)
            return
        handler(seq, t, e)
        self.updated = max(self.updated, t)

    def _entry(self, seq: int, t: int, e: dict[str, Any], action: str, target: str,
               version: int | None, from_: Any, to: Any,
               archived: tuple[int, ...] = ()) -> None:
        self.log.append(PromotionEntry(seq=seq, timestamp=t, user=e.get("user"), name=self.name,
                                       action=action, target=target, version=version,
                                       from_=from_, to=to, comment=e.get("comment"),
                                       archived=archived))

    def _version(self, e: dict[str, Any], t: int) -> VersionState | None:
        v = self.live(int(e["version"]))
        if v is None:
            log.warning("registry model %r: event on unknown version %s skipped",
                        self.name, e.get("version"))
        else:
            v.updated = max(v.updated, t)
        return v

    def _op_create_model(self, seq: int, t: int, e: dict[str, Any]) -> None:
        self.deleted = False
        self.created = t
        self.description = e.get("description")
        self.tags = dict(e.get("tags") or {})

    def _op_delete_model(self, seq: int, t: int, e: dict[str, Any]) -> None:
        for v in self.live_versions():
            self._delete_version(seq, t, e, v)
        self.deleted = True

    def _op_rename(self, seq: int, t: int, e: dict[str, Any]) -> None:
        old, new = self.name, str(e["to"])
        self._entry(seq, t, e, "rename", new, None, old, new)
        self.former_names.append(old)
        self.name = new

    def _op_update_model(self, seq: int, t: int, e: dict[str, Any]) -> None:
        self.description = e.get("description")

    def _op_model_tag(self, seq: int, t: int, e: dict[str, Any]) -> None:
        if e.get("value") is None:
            self.tags.pop(e["key"], None)
        else:
            self.tags[e["key"]] = e["value"]

    def _op_update_version(self, seq: int, t: int, e: dict[str, Any]) -> None:
        v = self._version(e, t)
        if v is not None:
            v.description = e.get("description")

    def _op_version_tag(self, seq: int, t: int, e: dict[str, Any]) -> None:
        v = self._version(e, t)
        if v is not None:
            if e.get("value") is None:
                v.tags.pop(e["key"], None)
            else:
                v.tags[e["key"]] = e["value"]

    def _op_delete_version(self, seq: int, t: int, e: dict[str, Any]) -> None:
        v = self._version(e, t)
        if v is not None:
            self._delete_version(seq, t, e, v)

    def _delete_version(self, seq: int, t: int, e: dict[str, Any], v: VersionState) -> None:
        for alias in self.aliases_of(v.version):
            del self.aliases[alias]
            self._entry(seq, t, dict(e, comment=f"version {v.version} deleted"), "alias",
                        alias, None, v.version, None)
        if v.stage in HELD_STAGES:
            self._entry(seq, t, dict(e, comment=f"version {v.version} deleted"), "stage",
                        "Deleted", v.version, v.stage, "Deleted")
        v.deleted = True

    def _op_stage(self, seq: int, t: int, e: dict[str, Any]) -> None:
        v = self._version(e, t)
        if v is None:
            return
        to = e["stage"]
        archived: list[int] = []
        if e.get("archive_existing") and to in HELD_STAGES:
            for other in self.live_versions():
                if other.version != v.version and other.stage == to:
                    other.stage = "Archived"
                    other.updated = t
                    archived.append(other.version)
        from_ = v.stage
        v.stage = to
        if to != from_:
            self.stage_history.setdefault(to, []).append((v.version, from_))
        self._entry(seq, t, e, "stage", to, v.version, from_, to, tuple(archived))

    def _op_alias(self, seq: int, t: int, e: dict[str, Any]) -> None:
        alias = e["alias"]
        from_ = self.aliases.get(alias)
        to = e.get("version")
        if to is None:
            self.aliases.pop(alias, None)
        else:
            if self.live(int(to)) is None:
                log.warning("registry model %r: alias %r to unknown version %s skipped",
                            self.name, alias, to)
                return
            to = int(to)
            self.aliases[alias] = to
            hist = self.alias_history.setdefault(alias, [])
            if not hist or hist[-1] != to:
                hist.append(to)
        self._entry(seq, t, e, "alias", alias, to, from_, to)

    def _op_rollback(self, seq: int, t: int, e: dict[str, Any]) -> None:
        target, to = e["target"], int(e["to"])
        if self.live(to) is None:
            return
        if e["kind"] == "alias":
            from_ = self.aliases.get(target)
            self.aliases[target] = to
            hist = self.alias_history.get(target, [])
            del hist[int(e["index"]) + 1:]
        else:
            cur = self.stage_holder(target)
            from_ = cur[1] if cur else None
            if from_ is not None:
                back = self.versions[from_]
                back.stage = e.get("back_to") or "Archived"
                back.updated = t
            restored = self.versions[to]
            restored.stage = target
            restored.updated = t
            hist2 = self.stage_history.get(target, [])
            del hist2[int(e["index"]) + 1:]
        self._entry(seq, t, e, "rollback", target, to, from_, to)
