"""Checks on registered model names, aliases, stages and versions, and the model folder key."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .._text import check_text
from .entities import STAGES
from .errors import InvalidRegistryNameError

MAX_NAME_LENGTH = 256
_ALIAS_RE = re.compile(r"[A-Za-z0-9_\-]{1,255}")
_SLUG_RE = re.compile(r"[^a-z0-9._-]+")


def check_model_name(name: Any) -> str:
    """A registered model name: 1-256 printable characters, no ``/`` or ``@`` (they delimit
    ``models:/<name>/<version>`` and ``models:/<name>@<alias>``), no surrounding spaces."""
    if not isinstance(name, str):
        raise InvalidRegistryNameError(
            f"registered model name must be a string, got {type(name).__name__}: {name!r}")
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidRegistryNameError(
            f"registered model name must be 1 to {MAX_NAME_LENGTH} characters, got "
            f"{len(name)}: {name!r}")
    bad = sorted({c for c in name if c in "/@\\" or not c.isprintable()})
    if bad:
        raise InvalidRegistryNameError(
            f"registered model name {name!r} contains {''.join(bad)!r}; '/', '@', '\\' and "
            "control characters are not allowed (they would make models:/ URIs ambiguous)")
    if name != name.strip():
        raise InvalidRegistryNameError(
            f"registered model name {name!r} must not start or end with whitespace")
    return name


def check_alias(alias: Any) -> str:
    """An alias: letters, digits, ``_`` and ``-``; not ``latest`` and not a version number."""
    if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias):
        raise InvalidRegistryNameError(
            f"alias must be 1-255 letters, digits, '_' or '-', got {alias!r}")
    if alias.lower() == "latest" or re.fullmatch(r"v?\d+", alias.lower()):
        raise InvalidRegistryNameError(
            f"alias {alias!r} is reserved: 'latest' and version-like names (3, v3) would be "
            "ambiguous in models:/ URIs; pick another, e.g. 'champion'")
    return alias


def check_stage(stage: Any) -> str:
    """The canonical spelling of a stage (case-insensitive): None/Staging/Production/Archived."""
    if stage is None:
        return "None"
    if isinstance(stage, str):
        for s in STAGES:
            if stage.strip().lower() == s.lower():
                return s
    raise InvalidRegistryNameError(
        f"stage must be one of {', '.join(STAGES)} (any case), got {stage!r}")


def check_version(version: Any) -> int:
    """A version number (int or digit string) >= 1."""
    if isinstance(version, bool):
        v = None
    elif isinstance(version, int):
        v = version
    elif isinstance(version, str) and version.strip().isdigit():
        v = int(version.strip())
    else:
        v = None
    if v is None or v < 1:
        raise InvalidRegistryNameError(
            f"model version must be a positive integer (or its string), got {version!r}")
    return v


def check_tag_key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > 250:
        raise InvalidRegistryNameError(f"tag key must be a 1-250 character string, got {key!r}")
    return check_text("tag key", key, error=InvalidRegistryNameError)


def model_key(name: str) -> str:
    """Folder name of a registered model: a readable slug plus a hash of the exact name, so
    names differing only in case or punctuation never share a folder."""
    slug = _SLUG_RE.sub("-", name.lower()).strip("-.")[:40] or "model"
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:16]
    return f"{slug}-{digest}"


MAX_TAG_VALUE_LENGTH = 100_000  # MLflow's MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH


def check_text_value(what: str, value: Any) -> str | None:
    """A tag value or description as storable text (None stays None): no lone surrogates,
    at most 100,000 characters (MLflow's registry limit)."""
    if value is None:
        return None
    return check_text(what, value if isinstance(value, str) else str(value),
                      MAX_TAG_VALUE_LENGTH)
