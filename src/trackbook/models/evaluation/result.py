"""``EvaluationResult`` and its artifacts, as ``mlflow.models.EvaluationResult`` has them.

In a notebook the result shows itself as static HTML: the metrics table and every plot
inlined as a PNG, so it survives nbconvert and needs no JavaScript.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import urllib.parse
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _local_path(uri: str) -> Path:
    parsed = urllib.parse.urlparse(uri)
    return Path(urllib.parse.unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


class EvaluationArtifact:
    """An artifact written by ``evaluate``: its ``uri`` and its ``content`` (loaded on
    first use)."""

    def __init__(self, uri: str, content: Any = None) -> None:
        self._uri = uri
        self._content = content

    def _load_content_from_file(self, path: Path) -> Any:
        return path.read_bytes()

    def _load(self, local_artifact_path: str | os.PathLike[str] | None = None) -> Any:
        path = Path(local_artifact_path) if local_artifact_path else _local_path(self._uri)
        self._content = self._load_content_from_file(path)
        return self._content

    def _save(self, output_artifact_path: str | os.PathLike[str]) -> None:
        from ...store import durable

        durable.write_atomic(output_artifact_path, _local_path(self._uri).read_bytes(),
                             what="an evaluation artifact")

    @property
    def content(self) -> Any:
        """The artifact's content (a PIL image, a DataFrame, a dict, an array...)."""
        if self._content is None:
            self._load()
        return self._content

    @property
    def uri(self) -> str:
        """Where the artifact is stored (a ``file://`` URI in the run's artifacts)."""
        return self._uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri='{self.uri}')"


class ImageEvaluationArtifact(EvaluationArtifact):
    """A PNG plot; ``content`` is a ``PIL.Image``."""

    def _load_content_from_file(self, path: Path) -> Any:
        from PIL import Image

        image = Image.open(path)
        image.load()
        return image


class CsvEvaluationArtifact(EvaluationArtifact):
    """A CSV table; ``content`` is a pandas DataFrame."""

    def _load_content_from_file(self, path: Path) -> Any:
        import pandas as pd

        return pd.read_csv(path)


class JsonEvaluationArtifact(EvaluationArtifact):
    """A JSON document; ``content`` is the parsed object."""

    def _load_content_from_file(self, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))


class NumpyEvaluationArtifact(EvaluationArtifact):
    """A ``.npy`` array; ``content`` is the numpy array."""

    def _load_content_from_file(self, path: Path) -> Any:
        import numpy as np

        return np.load(path, allow_pickle=False)


class TextEvaluationArtifact(EvaluationArtifact):
    """A text file; ``content`` is the string."""

    def _load_content_from_file(self, path: Path) -> Any:
        return path.read_text(encoding="utf-8")


class PickleEvaluationArtifact(EvaluationArtifact):
    """A pickled object (what a custom artifact function returned); ``content`` is its
    bytes: unpickle them yourself if you trust the run."""


_KINDS = {cls.__name__: cls for cls in (
    EvaluationArtifact, ImageEvaluationArtifact, CsvEvaluationArtifact, JsonEvaluationArtifact,
    NumpyEvaluationArtifact, TextEvaluationArtifact, PickleEvaluationArtifact)}


class EvaluationResult:
    """What ``evaluate`` returns: ``metrics`` (name -> number), ``artifacts`` (name ->
    :class:`EvaluationArtifact`), the ``run_id`` they were logged to, and ``tables``."""

    def __init__(self, metrics: dict[str, Any], artifacts: dict[str, EvaluationArtifact],
                 run_id: str | None = None) -> None:
        self._metrics = metrics
        self._artifacts = artifacts
        self._run_id = run_id
        self._inline: list[tuple[str, bytes]] = []  # plots shown but not logged

    @property
    def metrics(self) -> dict[str, Any]:
        """Scalar metric names to values."""
        return self._metrics

    @property
    def artifacts(self) -> dict[str, EvaluationArtifact]:
        """Artifact names (e.g. ``"roc_curve_plot"``) to their location and content."""
        return self._artifacts

    @property
    def run_id(self) -> str | None:
        """The run the metrics and artifacts were logged to."""
        return self._run_id

    @property
    def tables(self) -> dict[str, Any]:
        """Table artifacts (``eval_results_table``) as pandas DataFrames."""
        import pandas as pd

        out = {}
        for name, artifact in self._artifacts.items():
            if not artifact.uri.endswith(".json"):
                continue
            try:
                doc = json.loads(_local_path(artifact.uri).read_text(encoding="utf-8"))
                out[name] = pd.DataFrame(doc["data"], columns=doc["columns"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a JSON artifact that is not a table
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``metrics.json``, ``artifacts_metadata.json`` and ``artifacts/`` (MLflow's
        layout) under ``path``."""
        from ...store import durable

        root = Path(path)
        durable.make_dirs(root / "artifacts", what="an evaluation result folder")
        durable.write_atomic(root / "metrics.json",
                             json.dumps(self._metrics, default=_plain).encode(),
                             what="evaluation metrics")
        meta = {name: {"uri": a.uri, "class_name": _class_path(a)}
                for name, a in self._artifacts.items()}
        durable.write_atomic(root / "artifacts_metadata.json", json.dumps(meta).encode(),
                             what="evaluation artifact metadata")
        for artifact in self._artifacts.values():
            artifact._save(root / "artifacts" / _local_path(artifact.uri).name)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EvaluationResult:
        """Read a result written by :meth:`save` (or by MLflow's ``save``)."""
        root = Path(path)
        metrics = json.loads((root / "metrics.json").read_text(encoding="utf-8"))
        meta = json.loads((root / "artifacts_metadata.json").read_text(encoding="utf-8"))
        artifacts = {}
        for name, entry in meta.items():
            kind = _KINDS.get(entry["class_name"].rsplit(".", 1)[-1], EvaluationArtifact)
            artifact = kind(uri=entry["uri"])
            artifact._load(root / "artifacts" / _local_path(entry["uri"]).name)
            artifacts[name] = artifact
        return cls(metrics, artifacts)

    def __repr__(self) -> str:
        lines = [f"EvaluationResult(run_id={self._run_id!r})"]
        lines += [f"  {k}: {_fmt(v)}" for k, v in self._metrics.items()]
        lines += [f"  artifact {k}: {a.uri}" for k, a in self._artifacts.items()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:right'>"
                       f"{html.escape(_fmt(v))}</td></tr>" for k, v in self._metrics.items())
        figures = []
        for name, artifact in self._artifacts.items():
            if isinstance(artifact, ImageEvaluationArtifact):
                try:
                    figures.append((name, _local_path(artifact.uri).read_bytes()))
                except OSError:
                    log.debug("plot %s is gone", artifact.uri)
        figures += self._inline
        imgs = "".join(
            f"<figure style='margin:4px'><img alt='{html.escape(n)}' style='max-width:420px' "
            f"src='data:image/png;base64,{base64.b64encode(b).decode()}'/>"
            f"<figcaption style='font-size:smaller'>{html.escape(n)}</figcaption></figure>"
            for n, b in figures)
        others = "".join(f"<li>{html.escape(k)}: <code>{html.escape(a.uri)}</code></li>"
                         for k, a in self._artifacts.items()
                         if not isinstance(a, ImageEvaluationArtifact))
        run = f" &middot; run <code>{html.escape(self._run_id)}</code>" if self._run_id else ""
        return (
            "<div class='trackbook-evaluation'>"
            f"<div><b>Evaluation</b>{run}</div>"
            "<table><thead><tr><th>metric</th><th>value</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            f"<div style='display:flex;flex-wrap:wrap'>{imgs}</div>"
            + (f"<ul>{others}</ul>" if others else "") + "</div>")


def _fmt(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else f"{number:.6g}"


def _plain(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _class_path(artifact: EvaluationArtifact) -> str:
    # MLflow's loader resolves this path; both packages spell the class names the same.
    return f"mlflow.models.evaluation.artifacts.{type(artifact).__name__}"
