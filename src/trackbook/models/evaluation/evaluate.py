"""``evaluate``: MLflow's default evaluator for classifiers and regressors.

Computes MLflow 3.17's built-in metrics with scikit-learn, draws its plots with
matplotlib, runs ``extra_metrics`` and ``custom_artifacts``, and logs everything to the
active run (or a new one) under the names MLflow uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from . import _compute, _hash, _inputs, _link, _plots
from . import result as r
from ._errors import EvaluationError
from ._log import RunArtifacts, custom_artifact, table_json
from .metric import EvaluationMetric, MetricValue, as_metric_value, eval_args, logged_name

log = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("classifier", "regressor")
_GENAI_MODEL_TYPES = ("question-answering", "text-summarization", "text", "retriever",
                      "databricks-agent")
_EVALUATORS = ("default", "classifier", "regressor")
# evaluator_config keys that ask for something evaluate does not do: refused, not ignored.
_REFUSED_CONFIG = {
    "log_model_explainability": "SHAP explainability is not supported by trackbook",
    "log_explainer": "SHAP explainers are not supported by trackbook",
    "eval_results_path": "eval_results_path writes a Delta table and needs Spark",
}


def evaluate(model: Any = None, data: Any = None, *, model_type: str | None = None,
             targets: Any = None, predictions: str | None = None,
             dataset_path: str | None = None, feature_names: Sequence[str] | None = None,
             evaluators: str | Sequence[str] | None = None,
             evaluator_config: dict[str, Any] | None = None,
             extra_metrics: Sequence[EvaluationMetric] | None = None,
             custom_artifacts: Sequence[Callable[..., Any]] | None = None,
             env_manager: str = "local", model_config: dict[str, Any] | None = None,
             inference_params: dict[str, Any] | None = None,
             model_id: str | None = None) -> r.EvaluationResult:
    """Evaluate a model (or static predictions) on data and log the results to a run.

    Same call as ``mlflow.models.evaluate`` / ``mlflow.evaluate`` for
    ``model_type="classifier"`` and ``"regressor"`` (or ``None`` with ``extra_metrics``).

    Parameters
    ----------
    model
        A model URI, a loaded ``PyFuncModel``, a callable ``fn(features_df) -> predictions``,
        or None when ``data`` holds the predictions (``predictions=`` names the column).
    data
        A pandas DataFrame (features, the ``targets`` column, maybe ``predictions``), a
        numpy array or list of features (``targets`` then is the label array), or a
        ``trackbook.data`` / ``mlflow.data`` dataset naming its targets/predictions.
    model_type
        ``"classifier"`` or ``"regressor"``; None computes only ``extra_metrics``.
    targets, predictions, feature_names, dataset_path
        As in MLflow.
    evaluators, evaluator_config
        ``"default"`` (or None); config keys ``pos_label``, ``label_list``, ``average``,
        ``sample_weights``, ``metric_prefix``, ``col_mapping``,
        ``max_classes_for_multiclass_roc_pr``, ``calibration_*``, plus any key an extra
        metric takes as an argument.
    extra_metrics
        Metrics made with :func:`make_metric`.
    custom_artifacts
        Functions ``fn(eval_df, builtin_metrics, artifacts_dir) -> {name: object}``.
    env_manager, model_config, inference_params, model_id
        ``env_manager`` must be ``"local"``; ``model_config`` applies when loading a URI;
        ``inference_params`` (deployment endpoints) is refused.

    Returns
    -------
    EvaluationResult
        ``.metrics``, ``.artifacts``, ``.tables`` and ``.run_id``; in a notebook it shows
        the metrics and plots.

    Examples
    --------
    >>> result = tb.models.evaluate(model_info.model_uri, test_df, targets="label",
    ...                             model_type="classifier")
    >>> result.metrics["roc_auc"]
    """
    config = dict(evaluator_config or {})
    if inference_params is not None:
        raise EvaluationError(
            "The inference_params argument can only be specified when the model is an MLflow "
            "Deployments endpoint URI like `endpoints:/my-chat`; trackbook does not support "
            "deployment endpoints.")
    config = _resolve_evaluators(evaluators, config, model_type)
    mapping = config.get("col_mapping", {})
    if isinstance(targets, str):
        targets = mapping.get(targets, targets)
    if isinstance(predictions, str):
        predictions = mapping.get(predictions, predictions)
    if data is None:
        raise EvaluationError("The data argument cannot be None.")
    if env_manager != "local":
        raise EvaluationError(
            f"env_manager={env_manager!r} is not supported by trackbook's evaluate: only "
            "'local' (the model runs in this Python environment).")
    _check_dataset_args(data, model, targets, predictions)
    _check_model_type(model_type, data, targets, extra_metrics)
    for key, why in _REFUSED_CONFIG.items():
        if config.get(key):
            raise EvaluationError(f"evaluator_config {{{key!r}: {config[key]!r}}}: {why}. "
                                  f"Remove the key (or set it to False).")
    model_id = _link.model_id_of(model, model_id)
    model = _resolve_model(model, model_config)
    bad = [m for m in extra_metrics or [] if not isinstance(m, EvaluationMetric)]
    if bad:
        lines = "\n".join(f"- Metric '{m}' has type '{type(m).__name__}'" for m in bad)
        raise EvaluationError(
            "In the 'extra_metrics' parameter, the following metrics have the wrong type:\n"
            f"{lines}\nPlease ensure that all extra metrics are instances of "
            "trackbook.models.EvaluationMetric (made with make_metric).")
    split = _inputs.eval_data(data, targets, None if model is not None else predictions,
                              feature_names)
    if model is None and split.predictions is None:
        raise EvaluationError(
            "Either a model or set of predictions must be specified in order to use the "
            "default evaluator. Either specify the `model` parameter, the `predictions` "
            "parameter, or a dataset naming its `predictions` column (via the `data` "
            "parameter).")
    from ...tracking import fluent

    started = fluent.active_run() is None
    run = fluent.start_run() if started else fluent.active_run()
    try:
        with _link.active(model_id):
            dataset = _log_dataset(data, split, targets, predictions if model is None else None,
                                   config.get("metric_prefix") or None, model_id)
            evaluation = _Evaluation(run.info.run_id, model, split, model_type, config,
                                     predictions if model is not None else None, model_id)
            evaluation.dataset = dataset
            uuid = getattr(getattr(model, "metadata", None), "model_uuid", None)
            if uuid is not None and dataset is not None:
                _link.tag_dataset(run.info.run_id, dataset.name, _hash.split_hash(split),
                                  uuid, dataset_path)
            result = evaluation.run(list(extra_metrics or []), list(custom_artifacts or []))
            if model_id is not None:  # MLflow logs them to the run and the model once more
                from ...tracking import fluent

                fluent.log_metrics(result.metrics, run_id=run.info.run_id,
                                   model_id=model_id, dataset=dataset)
            return result
    finally:
        if started:
            fluent.end_run()


def _resolve_evaluators(evaluators: Any, config: dict[str, Any],
                        model_type: str | None) -> dict[str, Any]:
    if evaluators is None or isinstance(evaluators, str):
        names = ["default"] if evaluators is None else [evaluators]
        nested = False
    else:
        names, nested = list(evaluators), True
    unknown = [n for n in names if n not in _EVALUATORS]
    if unknown or not names:
        extra = " (SHAP explainability is not supported)" if "shap" in unknown else ""
        raise EvaluationError(
            f"evaluators={evaluators!r}: trackbook has the evaluators {list(_EVALUATORS)}"
            f"{extra}.")
    if len(names) > 1:
        raise EvaluationError(
            f"evaluators={names!r}: 'default', 'classifier' and 'regressor' are one "
            "evaluator in trackbook; pass one of them.")
    return dict(config.get(names[0], {})) if nested else config


def _check_dataset_args(data: Any, model: Any, targets: Any, predictions: Any) -> None:
    if not _inputs.is_dataset(data):
        return
    if targets is not None:
        raise EvaluationError(
            "The top-level targets parameter should not be specified since a Dataset is used. "
            "Please only specify the targets column name in the Dataset. For example: "
            "`data = mlflow.data.from_pandas(df=X.assign(y=y), targets='y')`. Meanwhile, "
            "please specify `mlflow.evaluate(..., targets=None, ...)`.")
    if model is None and predictions is not None:
        raise EvaluationError(
            "The top-level predictions parameter should not be specified since a Dataset is "
            "used. Please only specify the predictions column name in the Dataset. For "
            "example: `data = mlflow.data.from_pandas(df=X.assign(y=y), predictions='y')`. "
            "Meanwhile, please specify `mlflow.evaluate(..., predictions=None, ...)`.")
    if model is not None and getattr(data, "predictions", None) is not None:
        raise EvaluationError(
            "The predictions parameter should not be specified in the Dataset since a model "
            "is specified. Please remove the predictions column from the Dataset.")


def _check_model_type(model_type: Any, data: Any, targets: Any, extra: Any) -> None:
    if model_type in _GENAI_MODEL_TYPES:
        raise EvaluationError(
            f"model_type={model_type!r} is a GenAI evaluation, out of scope for trackbook: "
            f"supported model types are {list(SUPPORTED_MODEL_TYPES)} (or None with "
            "extra_metrics).")
    if model_type is None:
        if not extra:
            raise EvaluationError(
                "The extra_metrics argument must be specified model_type is None.")
        return
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise EvaluationError(
            f"model_type={model_type!r} is not a model type evaluate knows: supported are "
            f"{list(SUPPORTED_MODEL_TYPES)} (or None with extra_metrics).")
    if _inputs.is_dataset(data):
        if getattr(data, "targets", None) is None:
            raise EvaluationError(
                "The targets column name must be specified in the provided Dataset for "
                f"{model_type} models. For example: "
                "`data = mlflow.data.from_pandas(df=X.assign(y=y), targets='y')`")
    elif targets is None:
        raise EvaluationError(f"The targets argument must be specified for {model_type} models.")


def _resolve_model(model: Any, model_config: dict[str, Any] | None) -> Any:
    from ..loading import PyFuncModel, load_model

    if isinstance(model, str):
        return load_model(model, model_config=model_config)
    if isinstance(model, PyFuncModel):
        if model_config:
            raise EvaluationError(
                "Indicating ``model_config`` when passing a `PyFuncModel`` object as model "
                "argument is not allowed. Use ``load_model(model_uri, model_config=<value>)``.")
        return model
    if model is not None and model_config:
        raise EvaluationError("model_config applies only when model is a model URI.")
    if callable(model):
        return _FunctionModel(model)
    if model is not None:
        raise EvaluationError(
            "The model argument must be a string URI referring to a model, an instance of "
            f"PyFuncModel, a function, or None; got {type(model).__name__}.")
    return None


class _FunctionModel:
    """A plain function used as the model (``predict`` calls it on the features frame)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.predict = fn


def _log_dataset(data: Any, split: _inputs.EvalData, targets: Any,
                 predictions: Any, context: str | None, model_id: str | None) -> Any:
    """Log the evaluation data as the run's input, as MLflow does (name ``dataset``; the
    ``metric_prefix`` as its context; the evaluated model as a model input), when
    ``trackbook.data`` is available. Returns the dataset (None when not logged)."""
    from ...tracking import fluent

    log_input = getattr(fluent, "log_input", None)
    if log_input is None:
        log.debug("no log_input in this trackbook: the evaluation dataset is not logged")
        return None
    if not _inputs.is_dataset(data):
        import importlib

        import pandas as pd

        try:
            tbdata = importlib.import_module("trackbook.data")
        except ImportError:
            log.debug("no trackbook.data: the evaluation dataset is not logged")
            return None

        if isinstance(data, pd.DataFrame):
            data = tbdata.from_pandas(data, targets=targets, predictions=predictions)
        else:
            data = tbdata.from_numpy(split.features.to_numpy(), targets=split.labels)
    if model_id is None:
        log_input(data, context=context)
    else:
        from ...tracking.entities import LoggedModelInput

        log_input(data, context=context, model=LoggedModelInput(model_id))
    return data


class _Evaluation:
    """One evaluation: predictions, metrics, artifacts, logging."""

    def __init__(self, run_id: str, model: Any, split: _inputs.EvalData, model_type: Any,
                 config: dict[str, Any], predictions_col: str | None,
                 model_id: str | None) -> None:
        self.out = RunArtifacts(run_id)
        self.split = split
        self.model_type = model_type
        self.config = config
        self.prefix = config.get("metric_prefix") or ""
        self.predictor = _inputs.predictor(model)
        self.predictions_col = predictions_col
        self.model_id = model_id
        self.dataset: Any = None  # the logged dataset: the metrics carry its name/digest
        self.values: dict[str, MetricValue] = {}
        self.artifacts: dict[str, r.EvaluationArtifact] = {}
        self.taken: set[str] = set()
        self.inline: list[tuple[str, bytes]] = []

    def run(self, extra: list[EvaluationMetric],
            custom: list[Callable[..., Any]]) -> r.EvaluationResult:
        y_pred, y_proba = self._predict()
        y_true = self.split.labels
        labels = None
        if self.model_type == "classifier":
            labels = _compute.class_labels(y_true, y_pred, self.config)
            self._score(y_true)
            self._builtin(_compute.classifier_metrics(y_true, y_pred, y_proba, labels,
                                                      self.config))
        elif self.model_type == "regressor":
            self._score(y_true)
            self._builtin(_compute.regressor_metrics(y_true, y_pred, self.config))
            self.inline.append(("residuals (not logged)", _plots.residuals(y_true, y_pred)))
        eval_df = self._eval_df(y_pred, y_true)
        self._extra(extra, eval_df)
        self._custom(custom, eval_df)
        self._prefix_values()
        metrics = self._aggregates()
        _link.log_batch(self.out.run_id, {k: float(v) for k, v in metrics.items()},
                        self.model_id, self.dataset)
        self._eval_table(y_pred)
        if labels is not None:
            self._classifier_plots(y_true, y_pred, y_proba, labels)
        result = r.EvaluationResult(metrics, self.artifacts, run_id=self.out.run_id)
        result._inline = self.inline
        return result

    # -- predictions and metrics ----------------------------------------------------------

    def _predict(self) -> tuple[Any, Any]:
        if self.predictor is None:
            return self.split.predictions, None
        features = self.split.features.copy()
        y_pred = _inputs.output_column(self.predictor.predict(features), self.predictions_col)
        proba = None
        if self.predictor.predict_proba is not None and self.model_type == "classifier":
            import numpy as np

            proba = np.asarray(self.predictor.predict_proba(self.split.features.copy()))
        return y_pred, proba

    def _score(self, y_true: Any) -> None:
        model = self.predictor.sklearn_model if self.predictor else None
        if model is None:
            return
        try:
            score = model.score(self.split.features.copy(), y_true,
                                sample_weight=self.config.get("sample_weights"))
        except Exception as exc:  # MLflow warns and goes on without the score
            log.warning("Computing sklearn model score failed: %r", exc)
            return
        self.values["score"] = MetricValue(aggregate_results={"score": score})

    def _builtin(self, metrics: dict[str, Any]) -> None:
        for name, value in metrics.items():
            self.values[name] = MetricValue(aggregate_results={name: value})

    def _eval_df(self, y_pred: Any, y_true: Any) -> Any:
        import pandas as pd

        frame = pd.DataFrame({"prediction": y_pred})
        if y_true is not None:
            frame["target"] = y_true
        return frame

    def _extra(self, metrics: list[EvaluationMetric], eval_df: Any) -> None:
        pending = list(enumerate(metrics))
        while pending:
            waiting, progressed, missing_all = [], False, []
            for index, metric in pending:
                args, missing = eval_args(metric, eval_df, self.split.features, self.values,
                                          self._aggregates(), self.config)
                if missing:
                    waiting.append((index, metric))
                    missing_all.append((metric.name, missing))
                    continue
                progressed = True
                try:
                    value = metric.eval_fn(*args)
                except Exception as exc:
                    raise EvaluationError(f"Metric '{metric.name}' at index {index} in "
                                          f"extra_metrics failed: {exc!r}") from exc
                checked = as_metric_value(metric, index, value)
                if checked is not None:
                    self.values[logged_name(metric)] = checked
            if not progressed:
                lines = "\n".join(f"Metric '{n}' needs {m}" for n, m in missing_all)
                raise EvaluationError(
                    f"Metric calculation failed for the following metrics:\n{lines}\n"
                    f"Input columns: {list(self.split.features.columns)}. Map a missing "
                    "argument to a column with evaluator_config={'col_mapping': {<argument>: "
                    "<column>}} or add it to evaluator_config.")
            pending = waiting

    def _prefix_values(self) -> None:
        p = self.prefix
        if not p:
            return
        self.values = {
            p + k: MetricValue(v.scores, v.justifications,
                               {p + a: x for a, x in v.aggregate_results.items()}
                               if v.aggregate_results else None)
            for k, v in self.values.items()}

    def _aggregates(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            for agg, number in (value.aggregate_results or {}).items():
                if number is None:
                    continue
                out[name if agg == name.split("/")[0] else f"{name}/{agg}"] = number
        return out

    # -- artifacts ------------------------------------------------------------------------

    def _custom(self, functions: list[Callable[..., Any]], eval_df: Any) -> None:
        import copy
        import tempfile

        for index, fn in enumerate(functions):
            name = getattr(fn, "__name__", repr(fn))
            where = f"Custom artifact function '{name}' at index {index} in the " \
                    "`custom_artifacts` parameter"
            with tempfile.TemporaryDirectory() as folder:
                produced = fn(eval_df.copy(), copy.deepcopy(self.values), folder)
                if produced is None:
                    log.warning("%s returned None.", where)
                    continue
                if not isinstance(produced, dict) or not all(isinstance(k, str)
                                                              for k in produced):
                    log.warning("%s did not return artifacts as a dictionary of string "
                                "artifact names with their corresponding objects.", where)
                    continue
                for key, raw in produced.items():
                    self.artifacts[key] = custom_artifact(self.out, key, raw, where,
                                                          self.taken)

    def _eval_table(self, y_pred: Any) -> None:
        columns = {}
        for name, value in self.values.items():
            if value.scores:
                columns[f"{name}/score"] = value.scores
            if value.justifications:
                columns[f"{name}/justification"] = value.justifications
        if not columns:
            return
        split = self.split
        frame = split.features.copy()
        if split.labels is not None:
            frame[split.targets_name or "target"] = split.labels
        frame[split.predictions_name or self.predictions_col or "outputs"] = y_pred
        frame = frame.assign(**columns)
        file = f"{self.prefix}eval_results_table.json"
        self.artifacts["eval_results_table"] = self.out.put(file, table_json(frame),
                                                            r.JsonEvaluationArtifact)

    def _image(self, name: str, draw: Callable[[], bytes]) -> None:
        try:
            data = draw()
        except Exception as exc:  # MLflow warns and logs the other plots
            log.warning("Failed to log image artifact %r: %r", name, exc)
            return
        file = f"{self.prefix}{name}.png"
        self.taken.add(file)
        self.artifacts[name] = self.out.put(file, data, r.ImageEvaluationArtifact)

    def _classifier_plots(self, y_true: Any, y_pred: Any, y_proba: Any,
                          labels: _compute.Labels) -> None:
        w = self.config.get("sample_weights")
        if labels.binary and y_proba is not None:
            self._image("roc_curve_plot", lambda: _plots.roc_curve(y_true, y_proba, labels, w))
            self._image("precision_recall_curve_plot",
                        lambda: _plots.precision_recall_curve(y_true, y_proba, labels, w))
            self._image("lift_curve_plot", lambda: _plots.lift_curve(y_true, y_proba, labels))
            self._image("calibration_curve_plot",
                        lambda: _plots.calibration_curve(y_true, y_proba, labels, self.config))
        elif not labels.binary:
            if y_proba is not None:
                self._image("calibration_curve_plot", lambda: _plots.calibration_curve(
                    y_true, y_proba, labels, self.config))
                if _compute.curves_fit(labels, self.config):
                    self._image("roc_curve_plot",
                                lambda: _plots.roc_curve(y_true, y_proba, labels, w))
                    self._image("precision_recall_curve_plot",
                                lambda: _plots.precision_recall_curve(y_true, y_proba,
                                                                      labels, w))
                else:
                    log.warning("The classifier num_classes > %s, skip logging ROC curve and "
                                "Precision-Recall curve.",
                                self.config.get("max_classes_for_multiclass_roc_pr", 10))
            frame = _compute.per_class_metrics(y_true, y_pred, y_proba, labels, self.config)
            self.artifacts["per_class_metrics"] = self.out.put(
                "per_class_metrics.csv", frame.to_csv(index=False).encode(),
                r.CsvEvaluationArtifact, content=frame)
        self._image("confusion_matrix",
                    lambda: _plots.confusion_matrix(y_true, y_pred, labels, w))
