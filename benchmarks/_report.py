"""Harness side: result rows, the console table, results Markdown and the ratio chart."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One measured quantity, with every repetition's sample for both tools.

    ``higher_is_better`` decides the ratio: trackbook/MLflow for rates, MLflow/trackbook
    for times and sizes, so a ratio above 1 always means trackbook is better.
    """

    workload: str
    label: str
    unit: str
    higher_is_better: bool
    target: float | None
    samples: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""
    checks: list[str] = field(default_factory=list)  # failed correctness checks
    comparable: bool = True  # False: the tools ran different sizes, no ratio
    floor: float | None = None  # absolute target on trackbook's median, in ``unit``

    def add(self, tool: str, value: float) -> None:
        self.samples.setdefault(tool, []).append(value)

    def median(self, tool: str) -> float | None:
        values = self.samples.get(tool)
        return statistics.median(values) if values else None

    @property
    def ratio(self) -> float | None:
        ml, tb = self.median("mlflow"), self.median("trackbook")
        if ml is None or tb is None or not self.comparable:
            return None
        if self.higher_is_better:
            return tb / ml if ml else float("inf")
        return ml / tb if tb else float("inf")

    @property
    def met(self) -> bool | None:
        if self.floor is not None:
            tb = self.median("trackbook")
            return None if tb is None else tb >= self.floor and not self.checks
        r = self.ratio
        if r is None or self.target is None:
            return None
        return r >= self.target and not self.checks

    def to_json(self) -> dict[str, Any]:
        return {"workload": self.workload, "label": self.label, "unit": self.unit,
                "higher_is_better": self.higher_is_better, "target": self.target,
                "samples": self.samples, "mlflow": self.median("mlflow"),
                "trackbook": self.median("trackbook"), "ratio": self.ratio, "met": self.met,
                "floor": self.floor, "note": self.note, "checks": self.checks}


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        if value < 0.01:
            return f"{value * 1000:.2f} ms"
        if value < 1:
            return f"{value * 1000:.0f} ms"
        return f"{value:.2f} s"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.3g}x"


def _status(row: Row) -> str:
    if row.checks:
        return "CHECK FAILED"
    met = row.met
    return "—" if met is None else ("met" if met else "MISSED")


def _cells(row: Row) -> list[str]:
    target = "—" if row.target is None else f"≥ {row.target:g}x"
    if row.floor is not None:
        target = f"≥ {fmt_value(row.floor, row.unit)}"
    return [row.workload, row.label, fmt_value(row.median("mlflow"), row.unit),
            fmt_value(row.median("trackbook"), row.unit), fmt_ratio(row.ratio), target,
            _status(row)]


HEADER = ["#", "workload", "MLflow (median)", "trackbook (median)", "ratio", "target", ""]


def console_table(rows: list[Row]) -> str:
    cells = [HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = []
    for n, c in enumerate(cells):
        lines.append("  ".join(x.ljust(w) if i < 2 else x.rjust(w)
                               for i, (x, w) in enumerate(zip(c, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  [{r.workload}] {r.label}: {r.note}" for r in rows if r.note]
    notes += [f"  [{r.workload}] {r.label}: CHECK FAILED: {'; '.join(r.checks)}"
              for r in rows if r.checks]
    return "\n".join(lines + (["", *notes] if notes else []))


def markdown(rows: list[Row], meta: dict[str, str], method: list[str],
             chart: str | None) -> str:
    out = ["# trackbook vs MLflow: side-by-side benchmarks", ""]
    out += [f"- **{k}**: {v}" for k, v in meta.items()]
    met = [r for r in rows if r.met is not None]
    out += ["", f"**Targets met: {sum(1 for r in met if r.met)} of {len(met)}.** Ratio > 1 "
            "means trackbook is better (faster, more points/s, fewer bytes).", ""]
    out.append("| " + " | ".join([*HEADER[:-1], "status"]) + " | note |")
    out.append("|" + "---|" * (len(HEADER) + 1))
    for r in rows:
        note = r.note + (f" CHECK FAILED: {'; '.join(r.checks)}" if r.checks else "")
        out.append("| " + " | ".join([*_cells(r), note.strip()]) + " |")
    if chart:
        out += ["", f"![ratios vs targets]({chart})"]
    out += ["", "## How it is measured", ""] + [f"- {m}" for m in method]
    out += ["", "## Every sample", "", "<details><summary>per repetition</summary>", ""]
    for r in rows:
        parts = [f"{tool}: " + ", ".join(fmt_value(v, r.unit) for v in vals)
                 for tool, vals in sorted(r.samples.items())]
        out.append(f"- [{r.workload}] {r.label} — " + "; ".join(parts))
    out += ["", "</details>", ""]
    return "\n".join(out)


def chart(rows: list[Row], path: Path) -> bool:
    """Horizontal bars of ratio per row (log scale) with the target marked; False if
    matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    shown = [r for r in rows if r.ratio is not None]
    if not shown:
        return False
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(shown) + 1.6))
    ys = list(range(len(shown)))[::-1]
    colors = ["#2e7d32" if r.met else "#c62828" if r.met is False else "#757575"
              for r in shown]
    ratios = [max(r.ratio or 0.0, 1e-3) for r in shown]
    ax.barh(ys, ratios, color=colors, height=0.6)
    for y, r in zip(ys, shown, strict=True):
        if r.target is not None:
            ax.plot([r.target, r.target], [y - 0.4, y + 0.4], color="black", lw=2)
        ax.text(max(r.ratio or 0.0, 1e-3) * 1.08, y, fmt_ratio(r.ratio), va="center",
                fontsize=8)
    ax.set_yticks(ys, [f"[{r.workload}] {r.label}" for r in shown], fontsize=8)
    ax.set_xscale("log")
    ax.axvline(1, color="#9e9e9e", lw=1, ls="--")
    ax.set_xlabel("ratio vs MLflow (trackbook better →); black tick = target")
    ax.set_title("trackbook vs MLflow (green: target met, red: missed)")
    ax.set_xlim(right=max(max(ratios), max((r.target or 1) for r in shown)) * 4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
