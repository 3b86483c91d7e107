"""MLflow's fluent registry functions: ``search_registered_models``,
``search_model_versions``, ``set_model_version_tag`` and ``get/set_registry_uri``.

The registry always lives in the tracking store (``<store>/registry``), so the registry URI
is the tracking URI; setting it to anything else is refused rather than ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._errors import TrackbookError
from ..tracking.uri import get_store, get_tracking_uri, store_path
from .client import RegistryClientMixin
from .entities import ModelVersion, RegisteredModel
from .errors import RegistryUriError


class _StoreRegistry(RegistryClientMixin):
    def __init__(self) -> None:
        self._store = get_store()


def search_registered_models(max_results: int | None = None,
                             filter_string: str | None = None,
                             order_by: list[str] | None = None) -> list[RegisteredModel]:
    """Registered models matching ``filter_string`` (e.g. ``"name LIKE 'churn%'"``), by
    name unless ``order_by``; every page, as MLflow's fluent function returns.

    Examples
    --------
    >>> [m.name for m in tb.search_registered_models(filter_string="name = 'churn'")]
    ['churn']
    """
    return list(_StoreRegistry().search_registered_models(filter_string, max_results,
                                                          order_by))


def search_model_versions(max_results: int | None = None, filter_string: str | None = None,
                          order_by: list[str] | None = None) -> list[ModelVersion]:
    """Model versions matching ``filter_string`` (e.g. ``"name = 'churn'"`` or
    ``"run_id = '...'"``), every page."""
    return list(_StoreRegistry().search_model_versions(filter_string, max_results, order_by))


def set_model_version_tag(name: str, version: str | int | None = None, key: str | None = None,
                          value: Any = None) -> None:
    """Set tag ``key`` of version ``version`` of registered model ``name``."""
    _StoreRegistry().set_model_version_tag(name, version, key, value)


def get_registry_uri() -> str:
    """The registry's URI: always the tracking URI (the registry lives in the store)."""
    return get_tracking_uri()


def set_registry_uri(uri: str | os.PathLike[str] | None) -> None:
    """Accept ``uri`` when it names the tracking store (or is None); else raise.

    Raises
    ------
    RegistryUriError
        ``uri`` names another place: trackbook has no separate registry store.
    """
    check_registry_uri(uri)


def check_registry_uri(uri: str | os.PathLike[str] | None,
                       store_root: Path | None = None) -> None:
    """Raise :class:`RegistryUriError` unless ``uri`` is None or names the store at
    ``store_root`` (default: the current tracking store)."""
    if uri is None:
        return
    text = os.fspath(uri)
    root = store_root if store_root is not None else store_path(None)
    if text == get_tracking_uri() and store_root is None:
        return
    if "://" not in text or text.startswith("file:"):
        try:
            if store_path(text) == root:
                return
        except TrackbookError:  # not a local path: not the store
            pass
    raise RegistryUriError(
        f"registry URI {text!r}: trackbook keeps the model registry inside the tracking "
        f"store ({root.as_uri()}); pass that URI or None, or call set_tracking_uri to use "
        "another store (its registry comes with it)")
