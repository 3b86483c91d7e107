"""What an autologged scikit-learn ``fit`` records, as MLflow 3.17's ``mlflow.sklearn``:

before training: params (``get_params(deep=True)``; shallow for search estimators), the tags
``estimator_name``/``estimator_class``, the training dataset; after training: the model
(``model``, with signature and input example), ``training_*`` metrics, the confusion matrix /
ROC / precision-recall plots, ``estimator.html``; for ``GridSearchCV``/``RandomizedSearchCV``
also ``best_<param>`` params, ``best_cv_score``, the ``best_estimator`` model, ``cv_results.csv``
and a child run per top candidate.
"""

from __future__ import annotations

import copy
import inspect
import logging
import tempfile
import warnings
from numbers import Number
from pathlib import Path
from typing import Any

from . import _runs, _safety, _sklearn_runs
from ._config import AutologConfig

FLAVOR = "sklearn"
PREFIX = "training_"
INPUT_EXAMPLE_ROWS = 5
log = logging.getLogger("trackbook.autolog")


def _warn(message: str) -> None:
    _safety.warn(FLAVOR, message)


def _info(message: str) -> None:
    config = _config()
    if config is None or not config.silent:
        log.info(message)


def _note(message: str) -> None:
    config = _config()
    if config is None or not config.silent:
        log.warning(message)


def _config() -> AutologConfig | None:
    from . import _config as c

    return c.get(FLAVOR)


def is_search(estimator: Any) -> bool:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, (GridSearchCV, RandomizedSearchCV))


def estimator_tags(estimator: Any) -> dict[str, str]:
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}


def training_data(fit: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                  ) -> tuple[Any, Any, Any]:
    """(X, y, sample_weight) of a ``fit(X, y, ..., sample_weight=...)`` call; X and y copied
    so that training cannot change what the metrics and the input example see."""
    names = list(inspect.signature(fit).parameters)
    x_name, y_name = [*names, None, None][:2]
    if len(args) >= 2:
        X, y = args[:2]
    elif len(args) == 1:
        X, y = args[0], kwargs.get(y_name)
    else:
        X, y = kwargs[x_name], kwargs.get(y_name)
    weight = None
    if "sample_weight" in names:
        i = names.index("sample_weight")
        weight = args[i] if len(args) > i else kwargs.get("sample_weight")
    return (copy.deepcopy(X) if X is not None else None,
            copy.deepcopy(y) if y is not None else None, weight)


class FitLog:
    """One autologged fit: ``before()`` the original fit runs, ``after()`` it returned."""

    def __init__(self, run: Any, estimator: Any, config: AutologConfig,
                 data: tuple[Any, Any, Any]) -> None:
        self.run_id = run.info.run_id
        self.run = run
        self.estimator = estimator
        self.config = config
        self.X, self.y, self.weight = data
        self.model_id: str | None = None
        self.dataset: Any = None
        # the fit's metrics, logged when it is done (as MLflow's queueing autolog client):
        # so a model logged after them (best_estimator) is not given them as its metrics
        self._queued: list[tuple[dict[str, Any], str | None, Any, int]] = []

    # -- before training ------------------------------------------------------------------
    def before(self) -> None:
        est = self.estimator
        with _safety.guard(FLAVOR, "log the estimator's params"):
            _sklearn_runs.log_params(self.run_id, est.get_params(deep=not is_search(est)))
        with _safety.guard(FLAVOR, "set the estimator tags"):
            _sklearn_runs.set_tags(self.run_id, estimator_tags(est))
        if self.config.log_datasets:
            with _safety.guard(FLAVOR, "log the training dataset"):
                self.dataset = _sklearn_runs.dataset(self.X, self.y)
                _sklearn_runs.log_dataset(self.run_id, self.dataset, "train")

    # -- after training -------------------------------------------------------------------
    def after(self) -> None:
        est, config = self.estimator, self.config
        example = signature = None
        if config.log_models:
            example, signature = self._example_and_signature()
            params = est.get_params(deep=not is_search(est))
            if hasattr(est, "best_params_"):
                params |= {f"best_{k}": v for k, v in est.best_params_.items()}
            info = self._log_model(est, "model", signature, example, params,
                                   registered=config.registered_model_name)
            self.model_id = getattr(info, "model_id", None)
        if self.dataset is None:  # MLflow names it in the metrics even without log_datasets
            with _safety.guard(FLAVOR, "describe the training dataset"):
                self.dataset = _sklearn_runs.dataset(self.X, self.y)
        metrics: dict[str, Any] = {}
        with _safety.guard(FLAVOR, "log the training metrics"):
            metrics = self._training_metrics()
        if self.y is None and not metrics:
            _note("Training metrics will not be recorded because training labels were not "
                  "specified. To automatically record training metrics, provide training "
                  "labels as inputs to the model training function.")
        with _safety.guard(FLAVOR, "log the training plots"):
            self._plots()
        with _safety.guard(FLAVOR, "log estimator.html"):
            self._html()
        if is_search(est):
            self._search(signature, example)
        with _safety.guard(FLAVOR, "log the training metrics"):
            self._flush()

    def _example_and_signature(self) -> tuple[Any, Any]:
        from ..models.signature import infer_signature

        example = signature = None
        try:
            example = copy.deepcopy(self.X[:INPUT_EXAMPLE_ROWS])
        except Exception as exc:
            if self.config.log_input_examples or self.config.log_model_signatures:
                _warn(f"could not gather an input example ({exc})")
            return None, None
        if self.config.log_model_signatures:
            try:
                est = self.estimator
                if hasattr(est, "predict"):
                    output = est.predict(copy.deepcopy(example))
                elif hasattr(est, "transform"):
                    output = est.transform(copy.deepcopy(example))
                else:
                    raise TypeError("the trained model has no `predict` or `transform` "
                                    "function, which is needed to infer the signature")
                signature = infer_signature(example, output)
            except Exception as exc:
                _warn(f"could not infer the model signature ({type(exc).__name__}: {exc})")
        return (example if self.config.log_input_examples else None), signature

    def _log_model(self, model: Any, name: str, signature: Any, example: Any,
                   params: dict[str, Any], registered: str | None = None) -> Any:
        from ..models import sklearn as sk_flavor

        # a logged model's param keys are limited to 250 characters here (MLflow takes any)
        params = {_sklearn_runs.truncated_key(k): v for k, v in params.items()}
        with _safety.guard(FLAVOR, f"log the model {name!r}"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the input example/signature notes of log_model
            return sk_flavor.log_model(
                model, name, signature=signature, input_example=example,
                serialization_format=self.config.option("serialization_format"),
                registered_model_name=registered, params=params)
        return None

    def _training_metrics(self) -> dict[str, Any]:
        import sklearn.base

        est, X, y, w = self.estimator, self.X, self.y, self.weight
        metrics: dict[str, Any] = {}
        if y is not None:
            if sklearn.base.is_classifier(est):
                metrics = _classifier_metrics(est, X, y, w, self.config.option("pos_label"))
            elif sklearn.base.is_regressor(est):
                metrics = _regressor_metrics(est, X, y, w)
            self._log(metrics)
        if hasattr(est, "score") and y is not None:
            try:
                takes_weight = "sample_weight" in inspect.signature(est.score).parameters
                score = est.score(X, y, w) if takes_weight else est.score(X, y)
            except Exception as exc:
                _warn(f"{type(est).__name__}.score failed, so {PREFIX}score is not logged "
                      f"({type(exc).__name__}: {exc})")
            else:
                self._log({PREFIX + "score": score})
                metrics[PREFIX + "score"] = score
        return metrics

    def _log(self, metrics: dict[str, Any]) -> None:
        from ..tracking import fluent

        if metrics:
            self._queued.append((dict(metrics), self.model_id, self.dataset, fluent.now_ms()))

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        for metrics, model_id, dataset, ts in queued:
            _sklearn_runs.log_metrics(self.run_id, metrics, model_id=model_id,
                                      dataset=dataset, timestamp=ts)

    def _plots(self) -> None:
        import sklearn.base

        if not sklearn.base.is_classifier(self.estimator) or self.y is None:
            return
        try:
            import matplotlib  # noqa: F401
        except ImportError as exc:
            _warn(f"matplotlib is not installed ({exc}), so the training plots are not logged")
            return
        from . import _deferred, _plots

        # the predictions are made here: the worker must not touch the estimator, which the
        # script may refit while the plots are drawn
        for name, draw, args in _classifier_plots(self.estimator, self.X, self.y, self.weight):
            artifact = f"{PREFIX}{name}.png"
            _deferred.submit(self.run_id, FLAVOR, f"draw {artifact}", _plots.save,
                             self.run_id, artifact, draw, *args)

    def _html(self) -> None:
        from sklearn.utils import estimator_html_repr

        # the charset keeps the toggle triangles from being garbled (MLflow's page)
        page = ("\n<!DOCTYPE html>\n<html lang=\"en\">\n  <head>\n    <meta charset=\"UTF-8\"/>"
                f"\n  </head>\n  <body>\n    {estimator_html_repr(self.estimator)}\n  </body>"
                "\n</html>\n    ")
        _sklearn_runs.client().log_text(self.run_id, page, "estimator.html")

    # -- parameter search -----------------------------------------------------------------
    def _search(self, signature: Any, example: Any) -> None:
        est = self.estimator
        best_model_id = best_params = None
        if hasattr(est, "best_estimator_") and self.config.log_models:
            best_params = est.best_estimator_.get_params(deep=True)
            info = self._log_model(est.best_estimator_, "best_estimator", signature, example,
                                   best_params)
            best_model_id = getattr(info, "model_id", None)
        if hasattr(est, "best_score_"):
            with _safety.guard(FLAVOR, "log best_cv_score"):
                self._log({"best_cv_score": est.best_score_})
        if hasattr(est, "best_params_"):
            with _safety.guard(FLAVOR, "log the best params"):
                _sklearn_runs.log_params(self.run_id, {f"best_{k}": v
                                                       for k, v in est.best_params_.items()})
        if hasattr(est, "cv_results_"):
            with _safety.guard(FLAVOR, "create the child runs of the parameter search"):
                self._child_runs(best_params, best_model_id)
            with _safety.guard(FLAVOR, "log cv_results.csv"):
                self._cv_results()

    def _child_runs(self, best_params: dict[str, Any] | None, best_model_id: str | None
                    ) -> None:
        import pandas as pd

        from ..store.events import now_ms
        from ..tracking import context
        from ..tracking.entities import RunStatus

        est = self.estimator
        max_runs = self.config.option("max_tuning_runs", 5)
        seed = est.estimator
        base = seed.get_params(deep=not is_search(seed))
        results = pd.DataFrame.from_dict(est.cv_results_)
        if max_runs is None:
            chosen = results
        else:
            rank = "rank_test_score"
            if rank not in results.columns:
                rank = next(c for c in results.columns if "rank_test_" in c)
                warnings.warn(f"Top {max_runs} child runs will be created based on ordering in "
                              f"{rank} column.  You can choose not to limit the number of child "
                              "runs created by setting `max_tuning_runs=None`.", stacklevel=2)
            chosen = results.nsmallest(max_runs, rank)
            _info(_child_runs_note(max_runs, len(results)))
        c = _sklearn_runs.client()
        start, end = self.run.info.start_time, now_ms()
        # the parent's lineage tags (user, source, git), as MLflow's context_registry gives
        tags = {**context.system_tags(), _runs.AUTOLOG_TAG: FLAVOR, **estimator_tags(seed)}
        for _, row in chosen.iterrows():
            child = c.create_run(self.run.info.experiment_id, start_time=start, tags=tags,
                                 parent_run_id=self.run_id)
            run_id = child.info.run_id
            _sklearn_runs.log_params(run_id, {**base, **(row.get("params") or {})})
            metrics = {k: v for k, v in row.items()
                       if not str(k).startswith(("param", "split")) and isinstance(v, Number)}
            linked = (best_model_id if best_params
                      and (row.get("params") or {}).items() <= best_params.items() else None)
            _sklearn_runs.log_metrics(run_id, metrics, model_id=linked, dataset=self.dataset)
            if self.dataset is not None:
                _sklearn_runs.log_dataset(run_id, self.dataset, "train")
            c.set_terminated(run_id, RunStatus.FINISHED, end_time=end)

    def _cv_results(self) -> None:
        import pandas as pd

        with tempfile.TemporaryDirectory(prefix="trackbook-sklearn-") as tmp:
            path = Path(tmp) / "cv_results.csv"
            pd.DataFrame.from_dict(self.estimator.cv_results_).to_csv(path, index=False)
            _sklearn_runs.client().log_artifact(self.run_id, path)


def _child_runs_note(max_runs: int, total: int) -> str:
    logged = min(max_runs, total)
    rest = total - logged
    what = {0: "no runs", 1: "the best run"}.get(logged, f"the {logged} best runs")
    omitted = "no runs" if rest <= 0 else "one run" if rest == 1 else f"{rest} runs"
    return f"Logging {what}, {omitted} will be omitted."


def _computed(metrics: list[tuple[str, Any, dict[str, Any]]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, fn, kwargs in metrics:
        try:
            values[name] = fn(**kwargs)
        except Exception as exc:
            _warn(f"{fn.__qualname__} failed, so the metric {name} is not logged "
                  f"({type(exc).__name__}: {exc})")
    return values


def _classifier_metrics(est: Any, X: Any, y: Any, w: Any, pos_label: Any) -> dict[str, Any]:
    from sklearn import metrics as m

    average = "weighted" if pos_label is None else "binary"
    pred = est.predict(X)
    scored = {"y_true": y, "y_pred": pred, "pos_label": pos_label, "average": average,
              "sample_weight": w}
    todo = [(PREFIX + "precision_score", m.precision_score, scored),
            (PREFIX + "recall_score", m.recall_score, scored),
            (PREFIX + "f1_score", m.f1_score, scored),
            (PREFIX + "accuracy_score", m.accuracy_score,
             {"y_true": y, "y_pred": pred, "normalize": True, "sample_weight": w})]
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        # positional: scikit-learn 1.9 renamed y_pred to y_proba (a FutureWarning by name)
        todo.append((PREFIX + "log_loss", lambda y, p, w: m.log_loss(y, p, sample_weight=w),
                     {"y": y, "p": proba, "w": w}))
        if len(proba[0]) == 2:
            proba = proba[:, 1]  # binary: the score of the greater label
        todo.append((PREFIX + "roc_auc", m.roc_auc_score,
                     {"y_true": y, "y_score": proba, "average": "weighted",
                      "sample_weight": w, "multi_class": "ovo"}))
    return _computed(todo)


def _regressor_metrics(est: Any, X: Any, y: Any, w: Any) -> dict[str, Any]:
    import numpy as np
    from sklearn import metrics as m

    pred = est.predict(X)
    args = {"y_true": y, "y_pred": pred, "sample_weight": w, "multioutput": "uniform_average"}
    values = _computed([(PREFIX + "mean_squared_error", m.mean_squared_error, args),
                        (PREFIX + "mean_absolute_error", m.mean_absolute_error, args),
                        (PREFIX + "r2_score", m.r2_score, args)])
    if PREFIX + "mean_squared_error" in values:
        values[PREFIX + "root_mean_squared_error"] = np.sqrt(values[PREFIX +
                                                                    "mean_squared_error"])
    return values


def _classifier_plots(est: Any, X: Any, y: Any, w: Any
                      ) -> list[tuple[str, Any, tuple[Any, ...]]]:
    """(name, draw, args) for the confusion matrix, plus ROC and precision-recall curves
    for binary labels, scored with ``predict_proba`` (else ``decision_function``) as
    scikit-learn's displays score them; ``draw(*args)`` returns the Figure."""
    import numpy as np

    from . import _plots

    y_true = np.asarray(y)
    weights = None if w is None else np.array(w, copy=True)
    plots: list[tuple[str, Any, tuple[Any, ...]]] = [
        ("confusion_matrix", _plots.confusion_matrix,
         (y_true, np.asarray(est.predict(X)), weights))]
    classes = getattr(est, "classes_", None)
    if len(set(y_true.tolist())) != 2 or classes is None or len(classes) != 2:
        return plots
    if hasattr(est, "predict_proba"):
        scores = np.asarray(est.predict_proba(X))[:, 1]
    elif hasattr(est, "decision_function"):
        scores = np.asarray(est.decision_function(X))
    else:
        return plots
    pos_label = classes[1]
    curve_args = (y_true, scores, pos_label, weights)
    return [*plots, ("roc_curve", _plots.roc_curve, curve_args),
            ("precision_recall_curve", _plots.precision_recall_curve, curve_args)]
