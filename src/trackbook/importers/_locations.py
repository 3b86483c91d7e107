"""Where an MLflow artifact URI lives on this machine.

MLflow records absolute locations: ``mlflow-artifacts:/<exp>/<run>/artifacts`` (served by
``mlflow server`` from its ``--artifacts-destination``), ``file:///.../mlruns/<exp>/<run>/
artifacts`` or a bare path. Stores get moved, so a location that no longer exists is looked
for again under the artifact roots by its tail (``<exp>/<run>/artifacts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

MISSING_ROOT = ("artifact URIs are mlflow-artifacts:/ (served by `mlflow server`) but no "
                "artifact folder was given: pass --artifacts <the server's "
                "--artifacts-destination folder, e.g. ./mlartifacts>")


def resolve(uri: str | None, tail: Sequence[str], roots: Sequence[Path],
            base: Path) -> tuple[Path | None, str | None]:
    """(local folder, None), or (None, why not) when the location cannot be read.

    A folder that simply does not exist under a readable root is (None, None): MLflow
    creates a run's artifact folder only when something is logged there.
    """
    candidates: list[Path] = []
    if uri:
        parsed = urlparse(uri)
        scheme = parsed.scheme.lower()
        if scheme == "mlflow-artifacts":
            rel = unquote(parsed.path).lstrip("/")
            if not roots:
                return None, MISSING_ROOT
            candidates.extend(root / rel for root in roots)
        elif scheme == "file" or not scheme or (len(scheme) == 1 and uri[1:3] in (":/", ":\\")):
            path = Path(unquote(parsed.path) if scheme == "file" else uri)
            candidates.append(path if path.is_absolute() else base / path)
        else:
            return None, (f"artifact URI scheme {parsed.scheme}:// is not supported (only "
                          "local folders, file:// and mlflow-artifacts:/); copy the files "
                          "locally and pass --artifacts")
    candidates.extend(root.joinpath(*tail) for root in roots)
    for c in candidates:
        if c.is_dir():
            return c, None
    # A readable root (or experiment folder) without the run's folder: nothing was logged.
    if not candidates or any(r.is_dir() for r in roots) or candidates[0].parent.parent.is_dir():
        return None, None
    return None, (f"artifact folder {candidates[0]} not found (the store may have moved): "
                  "pass --artifacts <the folder that now holds <experiment>/<run>/artifacts>")
