"""What the trackbook-only benchmark scripts (widgets_bench.py, s3_bench.py) share: the
run's metadata and writing its report (markdown, printed and saved, and optional JSON)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def run_meta(script: str, argv: list[str] | None, profile: str, load_before: float,
             t_start: float) -> dict[str, str]:
    """Date, profile, machine, load average before/after, wall time and the command."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "profile": profile,
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"{platform.system()} {platform.machine()}",
        "load average (1 min) before / after": f"{load_before:.1f} / {os.getloadavg()[0]:.1f}",
        "wall time": f"{time.perf_counter() - t_start:.0f} s",
        "command": f"python benchmarks/{script} "
                   + " ".join(sys.argv[1:] if argv is None else argv),
    }


def write_report(text: str, out: Path, json_path: Path | None, meta: dict[str, str],
                 rows: list[dict[str, Any]]) -> None:
    """Print the markdown report, save it to ``out`` and, if asked, the rows as JSON."""
    print()
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    if json_path:
        json_path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
