"""Worker side of workload 9 (serving): the small scikit-learn model both tools serve.

``save_model`` trains a logistic regression on 4 numeric columns and saves it with the
tool's own ``sklearn.save_model`` (MLflow's MLmodel format either way), then reports
the prediction every load-generator request must get back. The other tool serves the
same folder: the formats are the same, so both score the same pickled estimator.
"""

from __future__ import annotations

import json
import os
from typing import Any

COLUMNS = ["a", "b", "c", "d"]
ONE_ROW = [0.1, 0.2, 0.3, 0.4]


def request_body() -> str:
    """The single-row JSON request every client sends."""
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [ONE_ROW]}})


def save_model(tool: str, store: str, rows: int = 300) -> dict[str, Any]:
    """Train and save the model under ``store``/model; return its path and the expected
    response to :func:`request_body`."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    if tool == "trackbook":
        from trackbook.models import sklearn as flavor
    else:
        import mlflow.sklearn as flavor
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((rows, len(COLUMNS))), columns=COLUMNS)
    model = LogisticRegression().fit(X, (X["a"] + X["b"] > 1).astype(int))
    path = os.path.join(store, "model")
    flavor.save_model(model, path, input_example=X[:2])
    want = model.predict(pd.DataFrame([ONE_ROW], columns=COLUMNS)).tolist()
    return {"path": path, "expect": {"predictions": want}}
