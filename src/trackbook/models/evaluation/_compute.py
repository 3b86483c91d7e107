"""The default evaluator's built-in metrics, computed with scikit-learn (imported on use).

Names, order and definitions follow MLflow 3.17's classifier and regressor evaluators:
``precision_recall_auc`` is the average precision, multiclass scores use
``evaluator_config["average"]`` (default ``"weighted"``) and a one-vs-rest ROC AUC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._errors import EvaluationError


@dataclass
class Labels:
    """The classes of a classification: sorted, the positive one last for a binary task."""

    values: Any  # numpy array
    pos_label: Any = None
    pos_index: int = 1  # the predict_proba column of the positive class

    @property
    def binary(self) -> bool:
        return len(self.values) == 2


def class_labels(y_true: Any, y_pred: Any, config: dict[str, Any]) -> Labels:
    """The label list of a classification (``label_list``/``pos_label`` in the config, else
    every value in targets and predictions)."""
    import numpy as np

    given = config.get("label_list")
    pos_label = config.get("pos_label")
    if pos_label is not None and given is not None and pos_label not in list(given):
        raise EvaluationError(f"'pos_label' {pos_label} must exist in 'label_list' {given}.")
    values = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)])) \
        if given is None else np.sort(np.asarray(given))
    if len(values) < 2:
        raise EvaluationError(
            "Evaluation dataset for classification must contain at least two unique labels, "
            f"but only {len(values)} unique labels were found. Please provide a 'label_list' "
            "in 'evaluator_config' with all possible classes, e.g. "
            "evaluator_config={'label_list': [0, 1]}.")
    if len(values) != 2:
        return Labels(values)
    if pos_label is None:
        return Labels(values, values[-1], 1)
    if pos_label not in values:
        return Labels(np.append(values, pos_label), pos_label, 1)
    index = int(np.where(values == pos_label)[0][0])
    return Labels(np.append(values[values != pos_label], pos_label), pos_label, index)


def _common(y_true: Any, y_pred: Any, y_proba: Any, labels: Any, average: str,
            pos_label: Any, weights: Any) -> dict[str, Any]:
    from sklearn import metrics as skm

    out: dict[str, Any] = {
        "example_count": len(y_true),
        "accuracy_score": skm.accuracy_score(y_true, y_pred, sample_weight=weights),
        "recall_score": skm.recall_score(y_true, y_pred, average=average, pos_label=pos_label,
                                         sample_weight=weights),
        "precision_score": skm.precision_score(y_true, y_pred, average=average,
                                               pos_label=pos_label, sample_weight=weights),
        "f1_score": skm.f1_score(y_true, y_pred, average=average, pos_label=pos_label,
                                 sample_weight=weights),
    }
    if y_proba is not None:
        out["log_loss"] = skm.log_loss(y_true, y_proba, labels=labels, sample_weight=weights)
    return out


def binary_counts(y_true: Any, y_pred: Any, labels: Any) -> dict[str, Any]:
    """true/false negatives/positives, the positive class being ``labels[-1]``."""
    from sklearn import metrics as skm

    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=labels).ravel()
    return {"true_negatives": tn, "false_positives": fp, "false_negatives": fn,
            "true_positives": tp}


def classifier_metrics(y_true: Any, y_pred: Any, y_proba: Any, labels: Labels,
                       config: dict[str, Any]) -> dict[str, Any]:
    """The classifier metrics MLflow logs (binary or multiclass), ``score`` excluded."""
    from sklearn import metrics as skm

    weights = config.get("sample_weights")
    if labels.binary:
        out = binary_counts(y_true, y_pred, labels.values)
        out.update(_common(y_true, y_pred, y_proba, labels.values, "binary", labels.pos_label,
                           weights))
        if y_proba is not None:
            import numpy as np

            pos = y_proba[:, labels.pos_index]
            out["roc_auc"] = skm.roc_auc_score(np.asarray(y_true) == labels.pos_label, pos,
                                               sample_weight=weights)
            out["precision_recall_auc"] = skm.average_precision_score(
                y_true, pos, pos_label=labels.pos_label, sample_weight=weights)
        return out
    average = config.get("average", "weighted")
    out = _common(y_true, y_pred, y_proba, labels.values, average, None, weights)
    if average in ("macro", "weighted") and y_proba is not None:
        out["roc_auc"] = skm.roc_auc_score(y_true, y_proba, sample_weight=weights,
                                           average=average, multi_class="ovr")
    return out


def per_class_metrics(y_true: Any, y_pred: Any, y_proba: Any, labels: Labels,
                      config: dict[str, Any]) -> Any:
    """MLflow's ``per_class_metrics.csv`` of a multiclass task: one-vs-rest counts and
    scores per class, plus ``roc_auc``/``precision_recall_auc`` when probabilities exist
    and the class count is at most ``max_classes_for_multiclass_roc_pr`` (10)."""
    import numpy as np
    import pandas as pd

    weights = config.get("sample_weights")
    rows = []
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for cls in labels.values:
        t, p = (y_true == cls).astype(int), (y_pred == cls).astype(int)
        row: dict[str, Any] = {"positive_class": cls}
        row.update(binary_counts(t, p, [0, 1]))
        row.update(_common(t, p, None, [0, 1], "binary", 1, weights))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if y_proba is not None and curves_fit(labels, config):
        roc, pr = one_vs_rest_aucs(y_true, y_proba, labels, weights)
        frame["roc_auc"] = roc
        frame["precision_recall_auc"] = pr
    return frame


def curves_fit(labels: Labels, config: dict[str, Any]) -> bool:
    return len(labels.values) <= config.get("max_classes_for_multiclass_roc_pr", 10)


def one_vs_rest_aucs(y_true: Any, y_proba: Any, labels: Labels,
                     weights: Any) -> tuple[list[float], list[float]]:
    import numpy as np
    from sklearn import metrics as skm

    roc, pr = [], []
    for i, cls in enumerate(labels.values):
        t = (np.asarray(y_true) == cls).astype(int)
        roc.append(skm.roc_auc_score(t, y_proba[:, i], sample_weight=weights))
        pr.append(skm.average_precision_score(t, y_proba[:, i], pos_label=1,
                                              sample_weight=weights))
    return roc, pr


def regressor_metrics(y_true: Any, y_pred: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The regressor metrics MLflow logs, ``score`` excluded."""
    import numpy as np
    from sklearn import metrics as skm

    w = config.get("sample_weights")
    y = np.asarray(y_true)
    total = (y * np.asarray(w)).sum() if w is not None else sum(y)
    return {
        "example_count": len(y),
        "mean_absolute_error": skm.mean_absolute_error(y, y_pred, sample_weight=w),
        "mean_squared_error": skm.mean_squared_error(y, y_pred, sample_weight=w),
        "root_mean_squared_error": skm.root_mean_squared_error(y, y_pred, sample_weight=w),
        "sum_on_target": total,
        "mean_on_target": total / len(y),
        "r2_score": skm.r2_score(y, y_pred, sample_weight=w),
        "max_error": skm.max_error(y, y_pred),
        "mean_absolute_percentage_error": skm.mean_absolute_percentage_error(
            y, y_pred, sample_weight=w),
    }
