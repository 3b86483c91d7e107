"""``tb.doctor()``: what to paste into a bug report (MLflow's ``mlflow.doctor``)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

_DEPENDENCIES = ("duckdb", "pyarrow", "numpy", "pandas", "fsspec", "filelock", "anywidget",
                 "cloudpickle", "pyyaml", "scikit-learn")


def doctor(mask_envs: bool = False) -> None:
    """Print the system, Python and trackbook versions, the tracking and registry URIs,
    the ``MLFLOW_*`` and ``TRACKBOOK_*`` environment variables and the versions of
    trackbook's dependencies.

    Parameters
    ----------
    mask_envs
        Print ``***`` instead of the environment variables' values.

    Examples
    --------
    >>> tb.doctor(mask_envs=True)                                            # doctest: +SKIP
    System information: Linux #1 SMP ...
    """
    from . import __file__ as location
    from ._version import __version__
    from .registry.fluent import get_registry_uri
    from .tracking.uri import get_tracking_uri

    lines = [f"System information: {platform.system()} {platform.version()}",
             f"Python version: {platform.python_version()}",
             f"trackbook version: {__version__}",
             f"trackbook module location: {location}",
             f"Tracking URI: {get_tracking_uri()}",
             f"Registry URI: {get_registry_uri()}"]
    envs = {k: ("***" if mask_envs else v) for k, v in sorted(os.environ.items())
            if k.startswith(("MLFLOW_", "TRACKBOOK_"))}
    if envs:
        lines.append("Environment variables:")
        lines += [f"  {k}: {v}" for k, v in envs.items()]
    lines.append("Dependencies:")
    for name in _DEPENDENCIES:
        try:
            lines.append(f"  {name}: {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    print("\n".join(lines), file=sys.stdout)
