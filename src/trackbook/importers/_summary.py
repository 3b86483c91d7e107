"""What an import did: counts per kind, and what was skipped and why."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

# The kinds counted, in the order the summary shows them.
KINDS = ("experiments", "runs", "params", "tags", "metric points", "artifact files",
         "dataset inputs", "logged models", "registered models", "model versions", "aliases",
         "stages")


@dataclass
class Skipped:
    """Something not imported (or imported differently), with the reason."""

    kind: str
    what: str
    why: str


@dataclass
class ImportSummary:
    """The result of :func:`trackbook.import_mlflow`.

    Attributes
    ----------
    source
        The MLflow store read (a ``.db`` file or an ``mlruns`` folder).
    backend
        ``"sqlite"`` or ``"file"``.
    schema_version
        The SQLite database's MLflow schema revision (``alembic_version``), else None.
    imported
        Per kind (``"runs"``, ``"metric points"``, ...): how many were added by this import.
    existing
        Per kind: how many were in trackbook already (a repeated import adds nothing).
    skipped
        What was not imported, and why.
    experiment_ids
        MLflow experiment id -> trackbook experiment id (they differ when an experiment of
        the same name already existed, or the id was taken).
    seconds
        Wall time of the import.
    """

    source: str
    backend: str
    schema_version: str | None = None
    imported: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    existing: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    skipped: list[Skipped] = field(default_factory=list)
    experiment_ids: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def nothing_imported(self) -> bool:
        """Whether runs, experiments or models were skipped and none was imported or
        found already there (``trackbook import-mlflow`` then exits with status 1)."""
        main = ("experiments", "runs", "registered models", "logged models")
        if not any(s.kind in main for s in self.skipped):
            return False
        return not any(self.imported.get(k, 0) or self.existing.get(k, 0) for k in main)

    def add(self, kind: str, n: int = 1) -> None:
        self.imported[kind] = self.imported.get(kind, 0) + n

    def had(self, kind: str, n: int = 1) -> None:
        self.existing[kind] = self.existing.get(kind, 0) + n

    def skip(self, kind: str, what: str, why: str) -> None:
        self.skipped.append(Skipped(kind, what, why))

    def _skip_groups(self) -> list[tuple[str, str, list[str]]]:
        """Skips grouped by (kind, reason): one line per reason, with examples."""
        groups: dict[tuple[str, str], list[str]] = {}
        for s in self.skipped:
            groups.setdefault((s.kind, s.why), []).append(s.what)
        return [(k, why, whats) for (k, why), whats in groups.items()]

    def __str__(self) -> str:
        head = f"imported MLflow {self.backend} store {self.source}"
        if self.schema_version:
            head += f" (schema {self.schema_version})"
        lines = [f"{head} in {self.seconds:.1f} s", f"  {'kind':<18} {'added':>10} "
                 f"{'already there':>14}"]
        for kind in KINDS:
            lines.append(f"  {kind:<18} {self.imported.get(kind, 0):>10,} "
                         f"{self.existing.get(kind, 0):>14,}")
        moved = {m: t for m, t in self.experiment_ids.items() if m != t}
        if moved:
            lines.append("  experiment ids (MLflow -> trackbook): "
                         + ", ".join(f"{m} -> {t}" for m, t in sorted(moved.items())))
        groups = self._skip_groups()
        lines.append(f"  skipped: {len(self.skipped)}" if groups else "  skipped: nothing")
        for kind, why, whats in groups:
            examples = ", ".join(whats[:3]) + (f" and {len(whats) - 3} more"
                                                if len(whats) > 3 else "")
            lines.append(f"    {kind} ({len(whats)}: {examples}): {why}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td style='text-align:right'>"
                       f"{self.imported.get(k, 0):,}</td><td style='text-align:right'>"
                       f"{self.existing.get(k, 0):,}</td></tr>" for k in KINDS)
        skips = "".join(f"<li>{html.escape(k)} ({len(w)}: {html.escape(', '.join(w[:3]))}"
                        f"{' ...' if len(w) > 3 else ''}): {html.escape(why)}</li>"
                        for k, why, w in self._skip_groups())
        return (f"<div><b>Imported MLflow {self.backend} store</b> "
                f"<code>{html.escape(self.source)}</code> in {self.seconds:.1f} s"
                "<table><tr><th>kind</th><th>added</th><th>already there</th></tr>"
                f"{rows}</table>"
                + (f"<p>Skipped:</p><ul>{skips}</ul>" if skips else "<p>Nothing skipped.</p>")
                + "</div>")
