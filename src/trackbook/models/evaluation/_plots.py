"""The default evaluator's plots as PNG bytes, drawn with matplotlib (imported on use).

Same artifact names and contents as MLflow 3.17 (``confusion_matrix.png``,
``roc_curve_plot.png``, ``precision_recall_curve_plot.png``, ``lift_curve_plot.png``,
``calibration_curve_plot.png``), drawn on a bare ``Figure`` so no pyplot state or GUI
backend is touched.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._compute import Labels

# MLflow's evaluation figure style: 6x4 inches at 175 dpi, 8 pt text.
_RC = {"figure.dpi": 175, "figure.figsize": [6.0, 4.0], "figure.autolayout": True,
       "font.size": 8}


@contextmanager
def _figure() -> Iterator[Any]:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        yield Figure()


def _png(fig: Any, tight: bool = False) -> bytes:
    # bbox_inches="tight" lays the figure out twice: only a legend outside the axes needs it
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight" if tight else None)
    return buf.getvalue()


def _lines(series: list[tuple[str, Any, Any]], xlabel: str, ylabel: str, title: str,
           diagonal: tuple[list[float], list[float]], outside: bool) -> bytes:
    with _figure() as fig:
        ax = fig.add_subplot()
        for label, x, y in series:
            ax.plot(x, y, label=label, drawstyle="steps-post", linewidth=1)
        ax.plot(*diagonal, color="gray", alpha=0.3, linestyle="dashed")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
        if outside:
            ax.legend(loc="center left", bbox_to_anchor=(1, 0.5))
        else:
            ax.legend(loc="best")
        return _png(fig, tight=outside)


def _axis_labels(x: str, y: str, pos_label: Any) -> tuple[str, str]:
    if pos_label:
        return f"{x} (Positive label: {pos_label})", f"{y} (Positive label: {pos_label})"
    return x, y


def roc_curve(y_true: Any, y_proba: Any, labels: Labels, weights: Any) -> bytes:
    """``roc_curve_plot.png``: one curve (binary) or one per class (one-vs-rest)."""
    import numpy as np
    from sklearn import metrics as skm

    series = []
    for name, t, score, pos in _one_vs_rest(y_true, y_proba, labels):
        fpr, tpr, _ = skm.roc_curve(t, score, sample_weight=weights, pos_label=pos)
        auc = skm.roc_auc_score(np.asarray(t) == pos, score, sample_weight=weights)
        series.append((f"{name}AUC={auc:.3f}", fpr, tpr))
    xl, yl = _axis_labels("False Positive Rate", "True Positive Rate", labels.pos_label)
    return _lines(series, xl, yl, "ROC curve", ([0, 1], [0, 1]), not labels.binary)


def precision_recall_curve(y_true: Any, y_proba: Any, labels: Labels, weights: Any) -> bytes:
    """``precision_recall_curve_plot.png``, labelled with the average precision (AP)."""
    from sklearn import metrics as skm

    series = []
    for name, t, score, pos in _one_vs_rest(y_true, y_proba, labels):
        precision, recall, _ = skm.precision_recall_curve(t, score, sample_weight=weights,
                                                          pos_label=pos)
        ap = skm.average_precision_score(t, score, pos_label=pos, sample_weight=weights)
        series.append((f"{name}AP={ap:.3f}", recall, precision))
    xl, yl = _axis_labels("Recall", "Precision", labels.pos_label)
    return _lines(series, xl, yl, "Precision recall curve", ([0, 1], [1, 0]),
                  not labels.binary)


def _one_vs_rest(y_true: Any, y_proba: Any,
                 labels: Labels) -> Iterator[tuple[str, Any, Any, Any]]:
    import numpy as np

    if labels.binary:
        yield "", y_true, y_proba[:, labels.pos_index], labels.pos_label
        return
    for i, cls in enumerate(labels.values):
        yield f"label={cls},", (np.asarray(y_true) == cls).astype(int), y_proba[:, i], 1


def lift_curve(y_true: Any, y_proba: Any, labels: Labels) -> bytes:
    """``lift_curve_plot.png``: lift of each class over the share of samples taken in
    decreasing score order, against the random baseline of 1."""
    import numpy as np

    y = np.asarray(y_true)
    with _figure() as fig:
        ax = fig.add_subplot()
        for i, cls in enumerate(labels.values):
            order = np.argsort(-y_proba[:, i], kind="stable")
            hits = (y[order] == cls).astype(float)
            n = np.arange(1, len(y) + 1)
            rate = hits.sum() / len(y)
            lift = (np.cumsum(hits) / n) / rate if rate else np.zeros(len(y))
            ax.plot(n / len(y), lift, label=f"Class {cls}", linewidth=2)
        ax.plot([0, 1], [1, 1], "k--", lw=2, label="Baseline")
        ax.set(title="Lift Curve", xlabel="Percentage of sample", ylabel="Lift")
        ax.set_xlim(0.0, 1.0)
        ax.grid(True)
        ax.legend(loc="best")
        return _png(fig)


def calibration_curve(y_true: Any, y_proba: Any, labels: Labels,
                      config: dict[str, Any]) -> bytes:
    """``calibration_curve_plot.png``: fraction of positives per predicted-probability bin
    (``calibration_n_bins``, default 10), the perfectly calibrated diagonal dashed."""
    import numpy as np
    from sklearn.calibration import calibration_curve as curve

    bins = int(config.get("calibration_n_bins", 10))
    y = np.asarray(y_true)
    with _figure() as fig:
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], "k:", label="Perfectly calibrated")
        if labels.binary:
            items = [(labels.pos_label, y_proba[:, labels.pos_index])]
        else:
            items = [(cls, y_proba[:, i]) for i, cls in enumerate(labels.values)]
        for cls, score in items:
            frac, mean = curve(y == cls, score, n_bins=bins)
            ax.plot(mean, frac, marker="o", linewidth=1, label=f"Class {cls}")
        ax.set(title=config.get("calibration_title", "Calibration Curve"),
               xlabel="Mean predicted probability", ylabel="Fraction of positives")
        ax.legend(loc="best")
        return _png(fig)


def confusion_matrix(y_true: Any, y_pred: Any, labels: Labels, weights: Any) -> bytes:
    """``confusion_matrix.png``: normalized by true class, as MLflow and sklearn autolog."""
    import math

    import matplotlib
    from sklearn import metrics as skm

    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels.values, normalize="true",
                                  sample_weight=weights)
    rc = {"font.size": min(8, math.ceil(50.0 / len(labels.values))), "axes.labelsize": 8}
    with _figure() as fig, matplotlib.rc_context(rc):
        ax = fig.add_subplot()
        disp = skm.ConfusionMatrixDisplay(confusion_matrix=matrix,
                                          display_labels=labels.values)
        disp.plot(cmap="Blues", ax=ax)
        ax.set_title("Normalized confusion matrix")
        return _png(fig)


def residuals(y_true: Any, y_pred: Any) -> bytes:
    """Predicted vs. actual and residuals of a regressor (shown inline by the result's
    HTML; MLflow logs no regressor plot, so neither does evaluate)."""
    import numpy as np

    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    with _figure() as fig:
        left, right = fig.subplots(1, 2)
        left.scatter(y, p, s=8, alpha=0.7)
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        left.plot([lo, hi], [lo, hi], color="gray", alpha=0.5, linestyle="dashed")
        left.set(title="Predicted vs. actual", xlabel="Actual", ylabel="Predicted")
        right.scatter(p, y - p, s=8, alpha=0.7)
        right.axhline(0, color="gray", alpha=0.5, linestyle="dashed")
        right.set(title="Residuals", xlabel="Predicted", ylabel="Actual - predicted")
        return _png(fig)


