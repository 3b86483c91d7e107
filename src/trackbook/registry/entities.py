"""What the registry returns: MLflow-shaped ``RegisteredModel`` / ``ModelVersion`` records
and the entries of the promotion log."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STAGES = ("None", "Staging", "Production", "Archived")
# Stages that ``models:/<name>/<stage>`` URIs resolve to and that deletion protects.
HELD_STAGES = ("Staging", "Production")


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model (MLflow's ``ModelVersion`` fields).

    ``run_id`` is the source run (lineage); ``source`` the model URI it was registered from.
    """

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    user_id: str | None
    current_stage: str
    source: str
    run_id: str | None
    status: str = "READY"
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_link: str | None = None
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None  # the MLflow 3 logged model (models:/m-<id>) behind it


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model (MLflow's ``RegisteredModel`` fields).

    ``latest_versions`` holds the newest version of each stage; ``aliases`` maps each alias
    to its version.
    """

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    tags: dict[str, str] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotionEntry:
    """One line of the promotion log: who moved what, when, from -> to, and why.

    ``action`` is ``"stage"`` (``target`` is the new stage, ``from_``/``to`` the version's old
    and new stage), ``"alias"`` (``target`` is the alias, ``from_``/``to`` the old and new
    version, ``None`` when unset) or ``"rollback"`` (``target`` an alias or stage, ``from_``
    the holder rolled back from, ``to`` the holder restored) or ``"rename"`` (``target``
    and ``to`` the new name, ``from_`` the old one; ``name`` is the model's name when the
    entry was written). ``archived`` lists versions a stage change archived
    (``archive_existing_versions``).
    """

    seq: int
    timestamp: int
    user: str | None
    name: str
    action: str
    target: str
    version: int | None
    from_: Any
    to: Any
    comment: str | None = None
    archived: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``from_`` is spelled ``from``)."""
        d = asdict(self)
        d["from"] = d.pop("from_")
        d["archived"] = list(self.archived)
        return d
