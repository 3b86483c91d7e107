"""``models:/`` URIs -> the source URI of the registered version they name.

- ``models:/<name>/<version>``  a version number
- ``models:/<name>@<alias>``    the version an alias points at
- ``models:/<name>/<stage>``    the newest version in a stage (case-insensitive)
- ``models:/<name>/latest``     the newest version
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from . import _names as n
from .entities import ModelVersion
from .errors import InvalidRegistryNameError

_MAX_DEPTH = 10
# models:/m-<32 hex>: an MLflow 3 logged model, not a registered one
_LOGGED_MODEL_RE = re.compile(r"models:/*m-[0-9a-f]{32}")


@dataclass(frozen=True)
class ModelsUri:
    """A parsed ``models:/`` URI: exactly one of ``version``, ``alias``, ``stage`` and
    ``latest`` is set."""

    name: str
    version: int | None = None
    alias: str | None = None
    stage: str | None = None
    latest: bool = False


def parse_models_uri(uri: str) -> ModelsUri:
    """Parse ``models:/name/3``, ``models:/name@alias``, ``models:/name/Production`` or
    ``models:/name/latest``."""
    if not isinstance(uri, str) or not uri.startswith("models:"):
        raise InvalidRegistryNameError(f"not a models:/ URI: {uri!r}")
    rest = unquote(uri[len("models:"):]).lstrip("/")
    forms = ("models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/<stage> or "
             "models:/<name>/latest")
    if "/" not in rest and "@" in rest:
        name, _, alias = rest.rpartition("@")
        return ModelsUri(n.check_model_name(name), alias=n.check_alias(alias))
    name, sep, what = rest.partition("/")
    if not sep or not what or "/" in what:
        raise InvalidRegistryNameError(f"cannot parse model URI {uri!r}; expected {forms}")
    n.check_model_name(name)
    if what.isdigit():
        return ModelsUri(name, version=n.check_version(what))
    if what.lower() == "latest":
        return ModelsUri(name, latest=True)
    try:
        return ModelsUri(name, stage=n.check_stage(what))
    except InvalidRegistryNameError:
        raise InvalidRegistryNameError(
            f"cannot parse model URI {uri!r}: {what!r} is neither a version number, a stage "
            f"nor 'latest'; expected {forms}") from None


def resolve_version(uri: str, tracking_uri: str | None = None) -> ModelVersion:
    """The registered version a ``models:/`` URI names (in the current store by default)."""
    from ..tracking.uri import get_store
    from ._registry import registry_for

    reg = registry_for(get_store(tracking_uri).root)
    p = parse_models_uri(uri)
    if p.version is not None:
        return reg.version(p.name, p.version)
    if p.alias is not None:
        return reg.by_alias(p.name, p.alias)
    return reg.latest(p.name, p.stage)


def resolve_model_uri(uri: str, tracking_uri: str | None = None) -> str:
    """The source URI (e.g. ``runs:/<run_id>/model``) behind a ``models:/`` URI.

    Examples
    --------
    >>> resolve_model_uri("models:/churn-model@champion")               # doctest: +SKIP
    'runs:/0123abcd.../model'
    """
    source = uri
    for _ in range(_MAX_DEPTH):  # a version may be registered from another models:/ URI
        source = resolve_version(source, tracking_uri).source
        if not source.startswith("models:") or _LOGGED_MODEL_RE.fullmatch(source):
            return source
    raise InvalidRegistryNameError(f"{uri!r} resolves through more than {_MAX_DEPTH} "
                                   "models:/ URIs (a cycle?)")
