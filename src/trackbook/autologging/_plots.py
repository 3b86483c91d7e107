"""The PNGs autologging saves at the end of training, drawn on the background worker
(:mod:`._deferred`): feature importance bars (XGBoost, LightGBM) and the scikit-learn
classifier's confusion matrix, ROC and precision-recall curves.

Each figure is a bare matplotlib ``Figure`` rendered by the Agg canvas: no pyplot, no
``rc_context`` (rcParams are global: changing them on a worker thread would restyle the
script's own plots), fixed margins instead of ``tight_layout`` / ``bbox_inches="tight"``
(each lays the figure out once more), and :data:`DPI` dots per inch.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

DPI = 100  # a 6.4 x 4.8 in figure is 640 x 480 pixels
FONT = 8.0


def save(run_id: str, artifact_file: str, draw: Callable[..., Any], *args: Any) -> None:
    """Draw ``draw(*args)`` (a Figure) and save it as the PNG ``artifact_file`` of the run."""
    from ..tracking.client import Client

    Client().log_stream(run_id, io.BytesIO(png(draw(*args))), artifact_file)


def png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    buf = io.BytesIO()
    canvas.print_png(buf)
    return buf.getvalue()


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def importance(features: list[str], values: list[Any], importance_type: str) -> Any:
    """A horizontal bar chart, most important feature on top (one bar per class when
    ``values`` holds one list per feature)."""
    import numpy as np

    matrix = np.asarray(values, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    order = np.argsort(np.abs(matrix).sum(axis=1))
    names = np.asarray(features, dtype=object)[order]
    matrix = matrix[order]
    n_features, n_classes = matrix.shape
    height = 4.8 + (0.1 * n_features if n_features > 10 else 0) \
        + (0.1 * n_classes if n_classes > 1 else 0)
    fig = _figure(6.4, height)
    ax = fig.subplots()
    offsets = np.linspace(-0.25, 0.25, n_classes) if n_classes > 1 else np.zeros(1)
    bar_height = 0.5 / max(n_classes - 1, 1)
    for k in range(n_classes):
        ax.barh(np.arange(n_features) + offsets[k], matrix[:, k], height=bar_height,
                align="center", label=f"Class {k}" if n_classes > 1 else None)
    ax.set_yticks(np.arange(n_features))
    ax.set_yticklabels([str(n) for n in names])
    ax.set_xlabel("Importance")
    ax.set_title(f"Feature Importance ({importance_type})")
    if n_classes > 1:
        ax.legend()
    # margins from the longest label instead of tight_layout, which draws the figure once more
    longest = max((len(str(n)) for n in names), default=1)
    fig.subplots_adjust(left=min(0.5, 0.05 + 0.011 * longest), right=0.97, top=0.92,
                        bottom=0.1)
    return fig


def confusion_matrix(y_true: Any, y_pred: Any, weights: Any) -> Any:
    """The confusion matrix normalized over the true labels (rows), as scikit-learn's
    ``ConfusionMatrixDisplay(normalize="true", cmap="Blues")`` draws it."""
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.utils.multiclass import unique_labels

    labels = unique_labels(y_true, y_pred)
    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels, sample_weight=weights,
                                  normalize="true")
    n = len(labels)
    size = min(FONT, 50.0 / n)
    fig = _figure(6.0, 4.0)
    ax = fig.subplots()
    image = ax.imshow(matrix, interpolation="nearest", cmap="Blues", vmin=0.0,
                      vmax=max(float(np.nanmax(matrix)), 1e-12) if matrix.size else 1.0)
    cmap = image.cmap
    threshold = (matrix.max() + matrix.min()) / 2.0 if matrix.size else 0.5
    for i in range(n):
        for j in range(n):
            value = matrix[i, j]
            ax.text(j, i, format(value, ".2g"), ha="center", va="center", fontsize=size,
                    color=cmap(0.0) if value >= threshold else cmap(1.0))
    cbar = fig.colorbar(image, ax=ax)
    cbar.ax.tick_params(labelsize=size)
    names = [str(label) for label in labels]
    ax.set_xticks(np.arange(n), names, fontsize=size)
    ax.set_yticks(np.arange(n), names, fontsize=size)
    ax.set_xlabel("Predicted label", fontsize=FONT)
    ax.set_ylabel("True label", fontsize=FONT)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_title("Normalized confusion matrix", fontsize=FONT)
    fig.subplots_adjust(left=0.14, right=0.98, top=0.92, bottom=0.13)
    return fig


def roc_curve(y_true: Any, scores: Any, pos_label: Any, weights: Any) -> Any:
    """The ROC curve of a binary classifier, labelled with its AUC."""
    from sklearn import metrics as skm

    fpr, tpr, _ = skm.roc_curve(y_true, scores, pos_label=pos_label, sample_weight=weights)
    auc = skm.auc(fpr, tpr)
    return _curve(fpr, tpr, f"AUC = {auc:.2f}", "False Positive Rate",
                  "True Positive Rate", pos_label, "ROC curve", "default")


def precision_recall_curve(y_true: Any, scores: Any, pos_label: Any, weights: Any) -> Any:
    """The precision-recall curve of a binary classifier, labelled with its average
    precision."""
    from sklearn import metrics as skm

    precision, recall, _ = skm.precision_recall_curve(y_true, scores, pos_label=pos_label,
                                                      sample_weight=weights)
    ap = skm.average_precision_score(y_true, scores, pos_label=pos_label,
                                     sample_weight=weights)
    return _curve(recall, precision, f"AP = {ap:.2f}", "Recall", "Precision", pos_label,
                  "Precision recall curve", "steps-post")


def _curve(x: Any, y: Any, label: str, xlabel: str, ylabel: str, pos_label: Any,
           title: str, drawstyle: str) -> Any:
    fig = _figure(6.4, 4.8)
    ax = fig.subplots()
    ax.plot(x, y, drawstyle=drawstyle, label=label)
    ax.set_xlabel(f"{xlabel} (Positive label: {pos_label})", fontsize=FONT)
    ax.set_ylabel(f"{ylabel} (Positive label: {pos_label})", fontsize=FONT)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=FONT)
    ax.legend(loc="lower right", fontsize=FONT)
    ax.set_title(title, fontsize=FONT)
    fig.subplots_adjust(left=0.1, right=0.95, top=0.92, bottom=0.1)
    return fig
