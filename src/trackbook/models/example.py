"""Input examples stored with a model: ``input_example.json`` (the data) and
``serving_input_example.json`` (the same data as a ready-to-send ``/invocations`` body)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._errors import ModelLoadError, UnsupportedModelError
from .payload import jsonable

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"


def normalize_example(example: Any) -> Any:
    """A DataFrame, numpy array or dict of arrays for ``example`` (lists of dicts and dicts
    of lists become DataFrames; lists become arrays)."""
    import numpy as np
    import pandas as pd

    if isinstance(example, (pd.DataFrame, np.ndarray)):
        return example
    if isinstance(example, pd.Series):
        return example.to_frame()
    if isinstance(example, dict):
        if all(isinstance(v, np.ndarray) for v in example.values()):
            return example
        return pd.DataFrame({k: v if isinstance(v, (list, tuple, np.ndarray)) else [v]
                             for k, v in example.items()})
    if isinstance(example, list) and example and all(isinstance(r, dict) for r in example):
        return pd.DataFrame.from_records(example)
    if hasattr(example, "detach") and hasattr(example, "numpy"):  # torch tensor
        return example.detach().cpu().numpy()
    if isinstance(example, (list, tuple)):
        return np.asarray(example)
    raise UnsupportedModelError(
        f"input_example must be a DataFrame, numpy array, dict or list, got "
        f"{type(example).__name__}")


def save_example(model_dir: Path, example: Any) -> dict[str, Any]:
    """Write the example files; return MLmodel's ``saved_input_example_info``."""
    import numpy as np
    import pandas as pd

    example = normalize_example(example)
    info: dict[str, Any] = {"artifact_path": EXAMPLE_FILE,
                            "serving_input_path": SERVING_EXAMPLE_FILE}
    if isinstance(example, pd.DataFrame):
        data = {"columns": [str(c) for c in example.columns],
                "data": jsonable(example.to_numpy(dtype=object) if len(example.columns)
                                 else [])}
        serving = {"dataframe_split": data}
        info.update(type="dataframe", pandas_orient="split")
    elif isinstance(example, np.ndarray):
        data = jsonable(example)
        serving = {"inputs": data}
        info["type"] = "ndarray"
    else:
        data = {k: jsonable(v) for k, v in example.items()}
        serving = {"inputs": data}
        info["type"] = "ndarray"
    (model_dir / EXAMPLE_FILE).write_text(json.dumps(data), encoding="utf-8")
    (model_dir / SERVING_EXAMPLE_FILE).write_text(json.dumps(serving, indent=2),
                                                  encoding="utf-8")
    return info


def load_example(model_dir: Path, info: dict[str, Any] | None) -> Any:
    """The stored input example (DataFrame or array), or None if the model has none."""
    import numpy as np
    import pandas as pd

    if not info:
        return None
    path = model_dir / info.get("artifact_path", EXAMPLE_FILE)
    if not path.is_file():
        raise ModelLoadError(f"the model's MLmodel names an input example {path.name!r} that "
                             f"is not in {model_dir}")
    data = json.loads(path.read_text(encoding="utf-8"))
    kind = info.get("type")
    if kind == "dataframe":
        if info.get("pandas_orient", "split") == "records":
            return pd.DataFrame.from_records(data)
        frame = pd.DataFrame(data.get("data", []), columns=data.get("columns"))
        return frame.infer_objects()
    if isinstance(data, dict):
        if "inputs" in data and len(data) == 1:
            data = data["inputs"]
        if isinstance(data, dict):
            return {k: np.asarray(v) for k, v in data.items()}
    return np.asarray(data)
