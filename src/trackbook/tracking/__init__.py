"""Runs, experiments, the fluent API, Client and the search grammar.

``trackbook.tracking.MlflowClient`` is MLflow's path to the full client (tracking plus the
model registry): it resolves on first use to :class:`trackbook.client.Client`, so this
package never imports the registry when it loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY: dict[str, str | tuple[str, str]] = {
    "MlflowClient": ("trackbook.client", "Client"),
    "get_tracking_uri": ("trackbook.tracking.uri", "get_tracking_uri"),
    "set_tracking_uri": ("trackbook.tracking.uri", "set_tracking_uri"),
    "is_tracking_uri_set": ("trackbook.tracking.uri", "is_tracking_uri_set"),
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

if TYPE_CHECKING:
    from ..client import Client as MlflowClient
    from .uri import get_tracking_uri, is_tracking_uri_set, set_tracking_uri
