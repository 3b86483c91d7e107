"""Checkpoints logged while a model trains, laid out as MLflow's autologging lays them out.

Best-only: ``checkpoints/latest_checkpoint<suffix>`` (overwritten when the monitored metric
improves). Otherwise one folder per save: ``checkpoints/epoch_<n>/checkpoint<suffix>`` or
``checkpoints/global_step_<n>/...``. Weights-only files get ``.weights`` before the suffix.
Beside each file a ``*checkpoint_metrics.json`` holds the metrics plus epoch and global step;
the run's ``mlflow.latest_checkpoint_artifact`` tag names the newest file.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import InvalidValueError

LATEST_TAG = "mlflow.latest_checkpoint_artifact"
log = logging.getLogger("trackbook.autolog")


def check_settings(monitor: Any, mode: Any, save_best_only: Any, save_freq: Any) -> None:
    """Refuse, at ``autolog()`` time, settings MLflow would refuse when training starts."""
    if save_best_only:
        if monitor is None:
            raise InvalidValueError("checkpoint_save_best_only=True needs checkpoint_monitor "
                                    "(a metric name such as 'val_loss'), got None")
        if mode not in ("min", "max"):
            raise InvalidValueError(f"checkpoint_mode must be 'min' or 'max' when "
                                    f"checkpoint_save_best_only=True, got {mode!r}")
    if save_freq != "epoch" and not (type(save_freq) is int and save_freq > 0):
        raise InvalidValueError(f"checkpoint_save_freq must be 'epoch' or a positive number of "
                                f"batches, got {save_freq!r}")


class CheckpointLogger:
    """Decides whether to log a checkpoint and logs it into the run being trained."""

    def __init__(self, *, suffix: str, monitor: str | None, mode: str, save_best_only: bool,
                 save_weights_only: bool, save_freq: str | int) -> None:
        self.suffix = suffix
        self.monitor = monitor
        self.mode = mode
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.best: float | None = None
        self.warned_missing = False

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def maybe_save(self, epoch: int, global_step: int, metrics: dict[str, float],
                   save: Callable[[str], None]) -> str | None:
        """Log a checkpoint written by ``save(path)`` if due; return its artifact path."""
        from ..tracking import fluent

        if self.save_best_only:
            if self.monitor not in metrics:
                if not self.warned_missing:  # MLflow logs this warning on every epoch
                    log.warning("checkpoint not logged: checkpoint_save_best_only needs the "
                                "monitored metric %r, which training did not report",
                                self.monitor)
                    self.warned_missing = True
                return None
            value = metrics[self.monitor]
            if not self._improves(value):
                return None
            self.best = value
        weights = ".weights" if self.save_weights_only else ""
        if self.save_best_only:
            folder, prefix = "checkpoints", "latest_"
        else:
            sub = f"epoch_{epoch}" if self.save_freq == "epoch" else f"global_step_{global_step}"
            folder, prefix = f"checkpoints/{sub}", ""
        filename = f"{prefix}checkpoint{weights}{self.suffix}"
        fluent.set_tag(LATEST_TAG, f"{folder}/{filename}")
        fluent.log_dict({**metrics, "epoch": epoch, "global_step": global_step},
                        f"{folder}/{prefix}checkpoint_metrics.json")
        with tempfile.TemporaryDirectory(prefix="trackbook-ckpt-") as tmp:
            path = Path(tmp) / filename
            save(str(path))
            fluent.log_artifact(str(path), folder)
        return f"{folder}/{filename}"
