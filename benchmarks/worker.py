"""Benchmark subprocess entry point: run one task of one tool, print its result as JSON.

Usage (the harness does this): ``python benchmarks/worker.py '{"task": ..., "tool": ...,
"store": ..., "args": {...}}'``. The last stdout line is ``BENCH_RESULT <json>``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import wl_read
import wl_serve
import wl_write

TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "init_store": wl_write.init_store,
    "log_naive": wl_write.log_naive,
    "log_steps": wl_write.log_steps,
    "create_runs": wl_write.create_runs,
    "write_history": wl_write.write_history,
    "write_curves": wl_write.write_curves,
    "concurrent_writer": wl_write.concurrent_writer,
    "search": wl_read.search,
    "read_history": wl_read.read_history,
    "read_curves": wl_read.read_curves,
    "count": wl_read.count_store,
    "save_model": wl_serve.save_model,
}
MARKER = "BENCH_RESULT "


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    result = TASKS[spec["task"]](spec["tool"], spec["store"], **spec.get("args", {}))
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
