"""The ``python_function`` side of the transformers flavor: MLflow's input parsing and output
shapes for the pipeline tasks trackbook predicts with (``feature-extraction``,
``fill-mask``, ``text-classification``). transformers is imported on use."""

from __future__ import annotations

import ast
from typing import Any

from ._errors import ModelError, UnsupportedModelError

#: pipeline classes trackbook's pyfunc predicts with -> the task MLflow names them by
PYFUNC_PIPELINES = {"FeatureExtractionPipeline": "feature-extraction",
                    "FillMaskPipeline": "fill-mask",
                    "TextClassificationPipeline": "text-classification"}

# MLflow's pipeline types without a python_function flavor (images, video, documents)
_NO_PYFUNC = {"DocumentQuestionAnsweringPipeline", "ImageToTextPipeline",
              "VisualQuestionAnsweringPipeline", "ImageSegmentationPipeline",
              "DepthEstimationPipeline", "ObjectDetectionPipeline",
              "VideoClassificationPipeline", "ZeroShotImageClassificationPipeline",
              "ZeroShotObjectDetectionPipeline", "ZeroShotAudioClassificationPipeline"}
_NO_PYFUNC_MODELS = ("GraphormerPreTrainedModel", "InformerPreTrainedModel",
                     "TimeSeriesTransformerPreTrainedModel",
                     "DecisionTransformerPreTrainedModel")


def has_pyfunc(pipeline: Any) -> bool:
    """Whether MLflow gives this pipeline a ``python_function`` flavor."""
    import transformers

    for name in _NO_PYFUNC_MODELS:
        cls = getattr(transformers, name, None)
        if cls is not None and isinstance(pipeline.model, cls):
            return False
    return type(pipeline).__name__ not in _NO_PYFUNC


def check_pyfunc_supported(pipeline: Any) -> None:
    """Raise when trackbook's pyfunc cannot predict with this pipeline type."""
    if _kind(pipeline) is None:
        raise UnsupportedModelError(
            f"pyfunc predict for a {type(pipeline).__name__} (task "
            f"{getattr(pipeline, 'task', None)!r}) is not implemented by trackbook; it "
            f"predicts for the tasks {sorted(PYFUNC_PIPELINES.values())}. Load the pipeline "
            "itself with tb.transformers.load_model(uri) and call it")


def _kind(pipeline: Any) -> str | None:
    import transformers

    for name, task in PYFUNC_PIPELINES.items():
        if isinstance(pipeline, getattr(transformers, name)):
            return task
    return None


def _str_or_list_of_str(data: Any) -> None:
    if not isinstance(data, (str, list)):
        raise ModelError(f"the input data is of an incorrect type: {type(data).__name__}; "
                         "it must be a string or a list of strings")
    if isinstance(data, list) and not all(isinstance(x, str) for x in data):
        raise ModelError("if supplying a list, all values must be strings")


def _text_classification_input(data: Any) -> Any:
    def check_keys(payload: dict[Any, Any]) -> None:
        if set(payload) - {"text", "text_pair"} and not all(isinstance(k, int) for k in payload):
            raise ModelError("text classification pipelines take dict inputs with the keys "
                             "'text' and 'text_pair' only")

    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        check_keys(data)
        return data
    if isinstance(data, list) and all(isinstance(x, str) for x in data):
        return data
    if isinstance(data, list) and all(isinstance(x, dict) for x in data):
        for payload in data:
            check_keys(payload)
        if next(iter(data[0].keys())) == 0:
            data = [item[0] for item in data]
        try:  # MLflow serving JSON-encodes dict payloads inside a string column
            return [ast.literal_eval(s) for s in data]
        except (ValueError, SyntaxError):
            return data
    raise ModelError("text classification takes a str, list of str, dict or list of dict, "
                     f"got {type(data).__name__}")


def _first_of_each(output: Any, key: str) -> list[Any]:
    """The ``key`` of the first candidate for each input (MLflow's fill-mask output)."""
    def first(candidates: Any) -> Any:
        if isinstance(candidates[0], dict):
            return candidates[0][key]
        return [item[0][key] for item in candidates]

    if isinstance(output[0], list):
        return [first(c) for c in output]
    return [output[0][key]]


def _sanitize(output: Any, data: Any) -> Any:
    if isinstance(data, str) and isinstance(output, list):
        output = output[0]
    if isinstance(output, str):
        return output.strip()
    if isinstance(output, list):
        if all(isinstance(x, str) for x in output):
            cleaned = [x.strip() for x in output]
            return cleaned if len(cleaned) > 1 else cleaned[0]
        return [_sanitize(x, data) for x in output]
    return output


class TransformersWrapper:
    """pyfunc ``predict`` over a pipeline, with MLflow's input parsing and output shapes:
    ``feature-extraction`` returns the first input's token embeddings as a numpy array,
    ``fill-mask`` the top token string per input (a list of str), ``text-classification``
    a DataFrame of ``label`` and ``score``. ``params`` (over the saved ``model_config``)
    go to the pipeline call."""

    def __init__(self, pipeline: Any, flavor_config: dict[str, Any] | None = None,
                 model_config: dict[str, Any] | None = None) -> None:
        check_pyfunc_supported(pipeline)
        self.pipeline = pipeline
        self.raw_model = pipeline
        self.flavor_config = dict(flavor_config or {})
        self.model_config = dict(model_config or {})
        self.kind = _kind(pipeline)

    def get_raw_model(self) -> Any:
        """The pipeline (MLflow's ``unwrap_python_model`` target)."""
        return self.pipeline

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd

        config = {**self.model_config, **(params or {})}
        if isinstance(data, pd.DataFrame):
            data = data.to_dict(orient="records")
        elif isinstance(data, list):
            if not all(isinstance(x, (str, dict)) for x in data):
                raise ModelError("invalid data: every element of a list input must be a "
                                 "string or a dict")
        elif not isinstance(data, (dict, str, bytes, np.ndarray)):
            raise ModelError("input data must be a pandas.DataFrame, a string, bytes, "
                             "List[str], List[Dict[str, str]] or Dict[str, str], got "
                             f"{type(data).__name__}")
        listed_dicts = isinstance(data, list) and data and all(isinstance(x, dict) for x in data)
        if self.kind == "text-classification":
            data = _text_classification_input(data)
            return pd.DataFrame(self._call(data, config))
        if listed_dicts:  # one string column, as a DataFrame gives it: take the values
            data = [next(iter(x.values())) for x in data]
        if self.kind == "fill-mask":
            _str_or_list_of_str(data)
            output = _first_of_each(self._call(data, config), "token_str")
            sanitized = _sanitize(output, data)
            return [sanitized] if isinstance(sanitized, str) else sanitized
        raw = self._call(data, config)  # feature-extraction
        return raw if isinstance(raw, np.ndarray) else np.array(raw[0][0])

    def _call(self, data: Any, config: dict[str, Any]) -> Any:
        try:
            if isinstance(data, dict):
                return self.pipeline(**data, **config)
            return self.pipeline(data, **config)
        except ValueError as exc:
            if "model_kwargs` are not used by the model" in str(exc):
                raise ModelError(f"the params given to predict are not valid for the "
                                 f"pipeline {type(self.pipeline).__name__}: {exc}") from exc
            raise
