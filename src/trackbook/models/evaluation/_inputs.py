"""Turn ``evaluate``'s ``model``/``data``/``targets``/``predictions`` into arrays.

``data`` is a pandas DataFrame, a numpy array or list (with ``targets`` as an array), or a
dataset (``trackbook.data`` / ``mlflow.data`` shaped: ``.df`` or ``.features``, with
``.targets`` and ``.predictions`` naming columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._errors import EvaluationError

# pyfunc flavors whose native model evaluate calls directly (predict_proba, score), as MLflow.
_RAW_FLAVORS = ("mlflow.sklearn", "mlflow.xgboost", "mlflow.catboost")


def is_dataset(data: Any) -> bool:
    """A ``trackbook.data``/``mlflow.data`` dataset (duck-typed: a digest and a frame)."""
    return hasattr(data, "digest") and (hasattr(data, "df") or hasattr(data, "features"))


@dataclass
class EvalData:
    """The evaluation table split into features, labels and (static) predictions."""

    features: Any  # DataFrame with the feature names as columns
    labels: Any  # numpy array or None
    predictions: Any  # numpy array or None (given in the data)
    targets_name: str | None
    predictions_name: str | None
    source: Any  # the frame or array as given (for the logged dataset)


def eval_data(data: Any, targets: Any, predictions: Any, feature_names: Any) -> EvalData:
    """Split ``data`` as MLflow's EvaluationDataset does."""
    import numpy as np
    import pandas as pd

    if is_dataset(data):
        targets = getattr(data, "targets", None)
        predictions = getattr(data, "predictions", None)
        if hasattr(data, "df"):
            data = data.df
        else:
            feats, labels = data.features, getattr(data, "targets", None)
            return _from_array(feats, labels, feature_names)
    if isinstance(data, pd.DataFrame):
        for what, name in (("targets", targets), ("predictions", predictions)):
            if name is not None and name not in data.columns:
                raise EvaluationError(f"The {what} column {name!r} is not in the data; its "
                                      f"columns are {list(data.columns)}.")
        drop = [c for c in (targets, predictions) if c is not None]
        if feature_names is not None:
            features = data[list(feature_names)]
        else:
            features = data.drop(columns=drop)
        labels = data[targets].to_numpy() if targets is not None else None
        preds = data[predictions].to_numpy() if predictions is not None else None
        return EvalData(features, labels, preds, targets, predictions, data)
    if isinstance(data, (np.ndarray, list)):
        if predictions is not None:
            raise EvaluationError(
                "predictions names a column of a DataFrame; with a numpy array or list as "
                "data, pass a model (or a DataFrame holding the predictions).")
        if targets is not None and isinstance(targets, str):
            raise EvaluationError("With a numpy array or list as data, targets must be the "
                                  "labels (an array or list), not a column name.")
        return _from_array(data, targets, feature_names)
    raise EvaluationError(
        f"data must be a pandas DataFrame, a numpy array or list, or a trackbook.data / "
        f"mlflow.data dataset; got {type(data).__name__}. (Spark DataFrames are not supported.)")


def _from_array(data: Any, targets: Any, feature_names: Any) -> EvalData:
    import numpy as np
    import pandas as pd

    array = np.asarray(data)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise EvaluationError(f"data must be 2-dimensional (rows x features); got an array "
                              f"of shape {array.shape}.")
    names = list(feature_names) if feature_names is not None else \
        [f"feature_{i + 1}" for i in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise EvaluationError(f"feature_names has {len(names)} names for "
                              f"{array.shape[1]} feature columns.")
    labels = np.asarray(targets) if targets is not None else None
    if labels is not None and len(labels) != len(array):
        raise EvaluationError(f"targets has {len(labels)} labels for {len(array)} rows.")
    return EvalData(pd.DataFrame(array, columns=names), labels, None, None, None, data)


@dataclass
class Predictor:
    """How to get predictions (and class probabilities, and sklearn's ``score``)."""

    predict: Any
    predict_proba: Any = None
    sklearn_model: Any = None  # for MLflow's ``score`` metric


def predictor(model: Any) -> Predictor | None:
    """The prediction functions of a PyFuncModel or a callable (None for static data)."""
    if model is None:
        return None
    meta = getattr(model, "metadata", None)
    flavors = getattr(meta, "flavors", None) or {}
    loader = flavors.get("python_function", {}).get("loader_module")
    if loader in _RAW_FLAVORS and hasattr(model, "get_raw_model"):
        raw = model.get_raw_model()
        return Predictor(raw.predict, getattr(raw, "predict_proba", None),
                         raw if loader == "mlflow.sklearn" else None)
    return Predictor(model.predict)


def output_column(output: Any, name: str | None) -> Any:
    """The prediction column of a model's output (``predictions`` names it when the model
    returns several columns), as a numpy array."""
    import numpy as np
    import pandas as pd

    missing = "Output column name is not specified for the multi-output model. Please set " \
              "the correct output column name using the `predictions` parameter."
    if isinstance(output, list) and output and all(isinstance(p, dict) for p in output):
        output = pd.DataFrame(output)
    if isinstance(output, dict):
        output = pd.DataFrame(output)
    if isinstance(output, pd.DataFrame):
        if name in output.columns:
            return output[name].to_numpy()
        if len(output.columns) == 1:
            return output.iloc[:, 0].to_numpy()
        if name is None:
            raise EvaluationError(missing)
        raise EvaluationError(f"Output column name '{name}' is not found in the model "
                              f"predictions {list(output.columns)}. Please set the correct "
                              "output column name using the `predictions` parameter.")
    array = np.asarray(output)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    return array
