"""Write evaluation artifacts into a run (through the store) and return their objects."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

from . import result as r
from ._errors import EvaluationError


class RunArtifacts:
    """The artifact folder of one run: ``put`` writes bytes and returns the artifact."""

    def __init__(self, run_id: str) -> None:
        from ...tracking.uri import get_store

        self.run_id = run_id
        self._root = get_store().artifact_root(run_id)

    def put(self, name: str, data: bytes, kind: type[r.EvaluationArtifact],
            content: Any = None) -> r.EvaluationArtifact:
        from ...store.artifacts import put_bytes, resolve

        put_bytes(self._root, name, data)
        return kind(uri=resolve(self._root, name).as_uri(), content=content)

    def put_file(self, name: str, local: str) -> str:
        from ...store.artifacts import put_file, resolve

        put_file(self._root, local, None)
        return resolve(self._root, name).as_uri()


def table_json(frame: Any) -> bytes:
    """``log_table``'s JSON (pandas ``split`` orient without the index)."""
    return frame.to_json(orient="split", index=False).encode("utf-8")


_BY_EXT = {".png": r.ImageEvaluationArtifact, ".jpg": r.ImageEvaluationArtifact,
           ".jpeg": r.ImageEvaluationArtifact, ".json": r.JsonEvaluationArtifact,
           ".csv": r.CsvEvaluationArtifact, ".npy": r.NumpyEvaluationArtifact,
           ".txt": r.TextEvaluationArtifact}


def custom_artifact(out: RunArtifacts, name: str, raw: Any, where: str,
                    taken: set[str]) -> r.EvaluationArtifact:
    """Log one object a ``custom_artifacts`` function returned, typed as MLflow types it:
    a path to a file, a JSON string or JSON-able dict/list, a DataFrame (CSV), a numpy
    array (.npy), a matplotlib Figure (PNG); anything else is pickled."""
    import numpy as np
    import pandas as pd

    if isinstance(raw, (str, Path)) and Path(raw).is_file():
        ext = Path(raw).suffix.lower()
        kind = _BY_EXT.get(ext)
        if kind is None:
            raise EvaluationError(f"{where} produced an artifact '{name}' at {raw} whose "
                                  f"file type {ext!r} is not one of {sorted(_BY_EXT)}.")
        data, file = Path(raw).read_bytes(), name + ext
    elif isinstance(raw, pd.DataFrame):
        data, file, kind = raw.to_csv(index=False).encode(), name + ".csv", \
            r.CsvEvaluationArtifact
    elif isinstance(raw, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, raw, allow_pickle=False)
        data, file, kind = buf.getvalue(), name + ".npy", r.NumpyEvaluationArtifact
    elif hasattr(raw, "savefig"):
        buf = io.BytesIO()
        raw.savefig(buf, format="png")
        data, file, kind = buf.getvalue(), name + ".png", r.ImageEvaluationArtifact
    elif isinstance(raw, str):
        try:
            json.loads(raw)
        except ValueError:
            raise EvaluationError(f"{where} produced an artifact '{name}' that is a string "
                                  "but neither an existing file path nor JSON.") from None
        data, file, kind = raw.encode(), name + ".json", r.JsonEvaluationArtifact
    elif isinstance(raw, (dict, list)):
        data, file, kind = json.dumps(raw, default=r._plain).encode(), name + ".json", \
            r.JsonEvaluationArtifact
    else:
        try:
            data = pickle.dumps(raw)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise EvaluationError(f"{where} produced an artifact '{name}' of type "
                                  f"{type(raw).__name__} that cannot be pickled: {exc}") from exc
        file, kind = name + ".pickle", r.PickleEvaluationArtifact
    if file in taken:
        raise EvaluationError(f"{where} produced an artifact '{name}' that cannot be logged "
                              "because there already exists an artifact with the same name.")
    taken.add(file)
    artifact = out.put(file, data, kind)
    artifact._load()
    return artifact
