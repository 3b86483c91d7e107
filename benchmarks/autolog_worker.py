"""One framework's autolog overhead, measured in this process: plain training and autologged
training, interleaved, at two loop lengths. Runs under trackbook's or MLflow's python.

    python autolog_worker.py <framework> <tool> <store dir> <reps> <size factor>

Prints one line ``BENCH_RESULT {json}``: per mode ("off", "autolog" with its defaults) and
loop length, the CPU seconds
(``time.process_time``: this process, every thread, so background plot work counts; other
load on the machine counts less), the wall seconds and the CPU seconds spent inside the
training loop's callbacks (per-iteration/per-epoch hooks) of each repetition, and the first
(cold) call's. Imports no trackbook module unless the tool is trackbook.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER = "BENCH_RESULT "
ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str, store: str) -> Any:
    if name == "trackbook":
        sys.path.insert(0, str(ROOT / "src"))  # this checkout's trackbook, as `make bench`
        import trackbook as tool

        tool.set_tracking_uri(store)
    else:
        import mlflow as tool

        tool.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    tool.set_experiment("autolog-bench")
    return tool


# -- workloads: (setup() -> train(loop_length), the autolog module's name, base length) ----

def _xgboost(scale: float) -> tuple[Callable[[int], Any], str, int]:
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.random((int(10_000 * scale), 20))
    y = (X[:, 0] + X[:, 1] + 0.3 * rng.standard_normal(len(X)) > 1).astype(int)
    n_valid = len(X) // 5
    params = {"objective": "binary:logistic", "max_depth": 4, "nthread": 1,
              "eval_metric": ["logloss", "auc"]}

    def train(rounds: int) -> Any:
        # built per call, as a script does: autolog takes its input example at construction
        dtrain = xgb.DMatrix(X[n_valid:], label=y[n_valid:])
        dvalid = xgb.DMatrix(X[:n_valid], label=y[:n_valid])
        return xgb.train(params, dtrain, rounds, evals=[(dtrain, "train"), (dvalid, "valid")],
                         verbose_eval=False)

    return train, "xgboost", 200


def _lightgbm(scale: float) -> tuple[Callable[[int], Any], str, int]:
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.random((int(20_000 * scale), 20))
    y = (X[:, 0] + X[:, 1] + 0.3 * rng.standard_normal(len(X)) > 1).astype(int)
    n_valid = len(X) // 5
    params = {"objective": "binary", "num_threads": 1, "verbose": -1,
              "metric": ["binary_logloss", "auc"]}

    def train(rounds: int) -> Any:
        dtrain = lgb.Dataset(X[n_valid:], label=y[n_valid:])
        dvalid = lgb.Dataset(X[:n_valid], label=y[:n_valid], reference=dtrain)
        return lgb.train(params, dtrain, rounds, valid_sets=[dtrain, dvalid],
                         valid_names=["train", "valid"])

    return train, "lightgbm", 200


def _sklearn(scale: float) -> tuple[Callable[[int], Any], str, int]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(n_samples=int(5000 * scale), n_features=20, random_state=0)

    def train(trees: int) -> Any:
        return RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=1).fit(X, y)

    return train, "sklearn", 100


def _lightning(scale: float) -> tuple[Callable[[int], Any], str, int]:
    import pytorch_lightning as pl
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    X = torch.rand(int(8000 * scale), 20, generator=g)
    y = (X[:, 0] + X[:, 1] > 1).float()[:, None]
    n_valid = len(X) // 5

    class Net(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64),
                                     nn.ReLU(), nn.Linear(64, 1))

        def forward(self, x: Any) -> Any:
            return self.net(x)

        def training_step(self, batch: Any, _: int) -> Any:
            x, t = batch
            loss = nn.functional.binary_cross_entropy_with_logits(self(x), t)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def validation_step(self, batch: Any, _: int) -> None:
            x, t = batch
            self.log("val_loss", nn.functional.binary_cross_entropy_with_logits(self(x), t))

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    train_dl = DataLoader(TensorDataset(X[n_valid:], y[n_valid:]), batch_size=32, shuffle=True,
                          generator=g)
    valid_dl = DataLoader(TensorDataset(X[:n_valid], y[:n_valid]), batch_size=256)

    def train(epochs: int) -> Any:
        trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(Net(), train_dl, valid_dl)
        return trainer

    return train, "pytorch", 2


WORKLOADS = {"xgboost": _xgboost, "lightgbm": _lightgbm, "sklearn": _sklearn,
             "lightning": _lightning}
# -- the time spent inside the training loop's callbacks ---------------------------------
# Installed before autolog is turned on, so both tools' patches wrap these wrappers and the
# callbacks they add go through them. The loop's own work is not timed: what is timed is
# only the callbacks' code, so the per-iteration overhead is not lost in the noise of
# timing the whole train call on a shared machine.
_in_callbacks = [0.0]
_SETUP_HOOKS = {"setup", "teardown", "on_fit_start", "on_fit_end", "on_train_start",
                "on_train_end", "on_sanity_check_start", "on_sanity_check_end",
                "on_exception", "state_dict", "load_state_dict", "on_save_checkpoint",
                "on_load_checkpoint"}


def _clock(fn: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    @functools.wraps(fn)  # keeps lightgbm's `order` / `before_iteration` attributes
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _in_callbacks[0] += time.process_time() - start
    return timed


def _with_clocked_callbacks(train: Callable[..., Any],
                            clocked: Callable[[Any], Any]) -> Callable[..., Any]:
    """``train`` with its ``callbacks`` argument passed through ``clocked``; same signature
    (both tools bind the patched function's arguments by name)."""
    import functools
    import inspect

    signature = inspect.signature(train)

    @functools.wraps(train)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.arguments["callbacks"] = clocked(bound.arguments.get("callbacks"))
        return train(*bound.args, **bound.kwargs)
    return wrapper


def _instrument(framework: str) -> None:
    if framework == "xgboost":
        import xgboost as xgb

        def clocked_xgb(callbacks: Any) -> Any:
            for cb in callbacks or []:
                for hook in ("before_iteration", "after_iteration"):
                    setattr(cb, hook, _clock(getattr(cb, hook)))
            return callbacks
        xgb.train = _with_clocked_callbacks(xgb.train, clocked_xgb)
    elif framework == "lightgbm":
        import lightgbm as lgb

        lgb.train = _with_clocked_callbacks(
            lgb.train, lambda callbacks: [_clock(cb) for cb in callbacks or []])
    elif framework == "lightning":
        from pytorch_lightning.trainer import call

        plain_hooks = call._call_callback_hooks
        clocked = _clock(plain_hooks)

        def hooks(trainer: Any, hook_name: str, *args: Any, **kwargs: Any) -> Any:
            if hook_name in _SETUP_HOOKS:
                return plain_hooks(trainer, hook_name, *args, **kwargs)
            return clocked(trainer, hook_name, *args, **kwargs)
        call._call_callback_hooks = hooks


def _timed(fn: Callable[[int], Any], n: int) -> tuple[float, float, float]:
    """(CPU, wall, CPU inside the loop's callbacks) seconds of ``fn(n)``."""
    _in_callbacks[0] = 0.0
    cpu, wall = time.process_time(), time.perf_counter()
    fn(n)
    return time.process_time() - cpu, time.perf_counter() - wall, _in_callbacks[0]


def main() -> None:
    framework, tool_name, store, reps, scale = sys.argv[1:6]
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.WARNING)  # "no input example ..." notes of both tools
    tool = _tool(tool_name, store)
    train, module, base = WORKLOADS[framework](float(scale))
    _instrument(framework)
    autolog = getattr(tool, module).autolog
    settings: dict[str, dict[str, Any]] = {"off": {"disable": True}, "autolog": {}}
    lengths = (base, 2 * base)
    out: dict[str, Any] = {"base": base, "cold": {}, "cpu": {}, "wall": {}, "hooks": {}}
    for mode, kwargs in settings.items():
        autolog(**kwargs)
        out["cold"][mode] = _timed(train, base)  # first call: imports, caches, fonts
        for n in lengths:
            for what in ("cpu", "wall", "hooks"):
                out[what][f"{mode}@{n}"] = []
    modes = list(settings)
    for rep in range(int(reps)):
        for mode in modes[rep % len(modes):] + modes[:rep % len(modes)]:  # rotate the order
            autolog(**settings[mode])
            for n in lengths:
                for what, value in zip(("cpu", "wall", "hooks"), _timed(train, n),
                                       strict=True):
                    out[what][f"{mode}@{n}"].append(value)
    autolog(disable=True)
    print(MARKER + json.dumps(out), flush=True)
    os._exit(0)  # skip interpreter teardown (Lightning/torch threads): the result is out

if __name__ == "__main__":
    main()
