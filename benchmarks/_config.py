"""Harness side: workload sizes for the three profiles, and the targets.

MLflow is measured at a smaller size where the full size would take it minutes (one
``log_metric`` is one SQLite transaction, ~5-10 ms); its per-point or per-run *rate*
is then compared, and the table says so. Sizes are per tool: ``ml_*`` are MLflow's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

# Targets: trackbook / MLflow ratio (rates) or MLflow / trackbook (times, bytes).
TARGET_POINTS = 500.0    # workloads 1, 2, 6: points/s
TARGET_QUERY = 50.0      # workloads 3 (search) and 4 (history); applied to 5 as well
TARGET_CREATE = 20.0     # workload 3: runs/s
TARGET_IMPORT = 10.0     # workload 7
TARGET_BYTES = 10.0      # workload 8: at most 1/10 of MLflow's bytes per point
SERVE_FLOOR = 2000.0     # workload 9: trackbook's requests/s (an absolute target, issue 5)

WORKLOADS = ("1", "2", "3", "4", "5", "6", "7", "8", "9")


@dataclass
class Config:
    """Sizes of every workload (``runs`` x ``steps``) and repetitions."""

    reps: int = 3
    import_reps: int = 5
    log_runs: int = 5            # workload 1 (naive log_metric loop)
    log_steps: int = 1000
    ml_log_runs: int = 1
    ml_log_steps: int = 100
    batch_runs: int = 5          # workload 2 (log_metrics per step)
    batch_steps: int = 1000
    ml_batch_runs: int = 1
    ml_batch_steps: int = 300
    create_sizes: list[int] = field(default_factory=lambda: [1000])  # workload 3
    ml_create_cap: int = 50
    history_steps: int = 20_000  # workload 4 (and 8)
    curve_runs: int = 20         # workload 5
    curve_steps: int = 1000
    procs: int = 4               # workload 6
    conc_steps: int = 2000
    ml_conc_steps: int = 50
    serve_clients: int = 4       # workload 9: concurrent keep-alive clients
    serve_seconds: int = 5       # measured, after
    serve_warmup: int = 1        # seconds of warm-up load


PROFILES: dict[str, Config] = {
    "quick": Config(),
    "full": Config(reps=5, import_reps=11, log_runs=10, log_steps=1000, ml_log_runs=1,
                   ml_log_steps=500, batch_runs=10, batch_steps=1000, ml_batch_runs=1,
                   ml_batch_steps=1000, create_sizes=[1000, 10_000], ml_create_cap=1000,
                   history_steps=100_000, curve_runs=100, curve_steps=1000,
                   conc_steps=5000, ml_conc_steps=200, serve_seconds=10, serve_warmup=2),
    "smoke": Config(reps=1, import_reps=1, log_runs=2, log_steps=20, ml_log_runs=1,
                    ml_log_steps=10, batch_runs=2, batch_steps=20, ml_batch_runs=1,
                    ml_batch_steps=10, create_sizes=[30], ml_create_cap=10,
                    history_steps=2500, curve_runs=3, curve_steps=50, conc_steps=50,
                    ml_conc_steps=10, serve_seconds=1, serve_warmup=0),
}


def build(profile: str, overrides: dict[str, Any]) -> Config:
    """The profile's sizes with every non-None override applied."""
    names = {f.name for f in fields(Config)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown size options {sorted(unknown)}; known: {sorted(names)}")
    return replace(PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None})
