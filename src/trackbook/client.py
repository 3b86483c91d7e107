"""The public ``trackbook.Client`` (alias ``MlflowClient``): tracking plus model registry.

Defined here, above both layers, so ``trackbook.tracking`` never imports the registry.
"""

from __future__ import annotations

from ._unsupported import UnsupportedClientMethods
from .models.logged_client import LoggedModelClientMixin
from .registry.client import RegistryClientMixin
from .tracking.client import Client as TrackingClient


class Client(RegistryClientMixin, LoggedModelClientMixin, TrackingClient,
             UnsupportedClientMethods):
    """Explicit access to a store: experiments, runs, metrics, artifacts and the model
    registry, with MLflow's ``MlflowClient`` method names.

    Parameters
    ----------
    tracking_uri
        A store folder or ``file://`` URI; default: the current tracking URI.
    registry_uri
        Must name the same store (the registry lives in the tracking store).
    workspace_store_uri
        Not supported (MLflow workspaces need a tracking server): raises when given.

    Examples
    --------
    >>> c = tb.Client()                                                      # doctest: +SKIP
    >>> c.set_registered_model_alias("churn-model", "champion", 3)
    >>> c.get_model_version_by_alias("churn-model", "champion").run_id
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None,
                 workspace_store_uri: str | None = None) -> None:
        if workspace_store_uri is not None:
            from ._errors import UnsupportedFeatureError

            raise UnsupportedFeatureError(
                "MlflowClient(workspace_store_uri=...) is not supported by trackbook: "
                "workspaces are an MLflow tracking-server feature")
        super().__init__(tracking_uri)
        if registry_uri is not None:  # the registry always lives in the tracking store
            from .registry.fluent import check_registry_uri

            check_registry_uri(registry_uri, self._store.root)
        self._registry_uri = registry_uri


MlflowClient = Client

__all__ = ["Client", "MlflowClient"]
