"""SIGKILL at every write step of the model registry's claims, and what it shows afterwards.

The fork server of ``test_kill_points.py`` (``_kill_child.py``) registers models in a child
process (``registry``: ``create_registered_model``, ``create_model_version``,
``register_model`` of an existing and of a new model, aliases set and moved, stages moved with
``archive_existing_versions``) and kills it just before its k-th write step under the store
root, for every k, and once just after its last. A claim is one temp-file write, one hard link
(the commit) and one unlink of the temp file; a kill just after step k leaves the files of a
kill just before step k + 1, so the ``before`` pass covers every state but the last.

After each kill: the registry opens in this process; exactly the models, versions
(``1..n``, no gaps) and promotion-log entries whose link was made are there, the log being
the clean run's log cut at that point (no entry for a change that did not happen); every
alias points at one existing version and aliases and stages are those the log's entries
give; ``search_model_versions`` and the registry widget's ``state()`` answer the same
(the widget after the kill only);
``trackbook doctor`` reports the store clean. Then a fresh process registers one more
version of ``m`` and moves ``champion`` to it: it gets the next number, and all the checks
hold again. The table (fault point x outcome) prints with ``pytest -rA``.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_kill_points import Server, report

import trackbook as tb
from trackbook import cli
from trackbook.registry.errors import RegisteredModelNotFoundError

Entry = tuple[Any, ...]


def _entries(client: Any, name: str) -> list[Entry]:
    return [(e.seq, e.action, e.target, e.version, e.from_, e.to, e.archived)
            for e in client.get_model_version_history(name)]


def _replay(entries: list[Entry]) -> tuple[dict[str, int], dict[int, str]]:
    """Aliases and stages (of versions that changed stage) that ``entries`` give."""
    aliases: dict[str, int] = {}
    stages: dict[int, str] = {}
    for _seq, action, target, version, _from, to, archived in entries:
        if action == "alias":
            if to is None:
                aliases.pop(target, None)
            else:
                aliases[target] = to
        elif action == "stage":
            stages[version] = to
            stages.update(dict.fromkeys(archived, "Archived"))
    return aliases, stages


def committed(steps: list[str]) -> tuple[set[str], dict[str, int], dict[str, int]]:
    """Models, version counts and event counts whose claim's link was made in ``steps``
    (a ``link`` of a model.json that already existed changes nothing: a set)."""
    models: set[str] = set()
    versions: dict[str, int] = {}
    events: dict[str, int] = {}
    for s in steps:
        m = re.fullmatch(r"link (\w+)/(model\.json|versions/\d+\.json|events/\d+\.json)", s)
        if not m:
            continue
        name, what = m.groups()
        if what == "model.json":
            models.add(name)
        else:
            counts = versions if what.startswith("versions") else events
            counts[name] = counts.get(name, 0) + 1
    return models, versions, events


def check(root: Path, models: set[str], versions: dict[str, int], events: dict[str, int],
          clean_log: dict[str, list[Entry]], widget: bool = True) -> str:
    """Every agreement of the module docstring; the outcome's short text."""
    client = tb.MlflowClient(str(root))
    found = sorted(rm.name for rm in client.search_registered_models())
    assert found == sorted(models), f"models {found}, committed {sorted(models)}"
    parts = []
    for name in sorted(models):
        mvs = {mv.version: mv for mv in client.search_model_versions(f"name='{name}'")}
        want = versions.get(name, 0)
        assert sorted(mvs) == list(range(1, want + 1)), (name, sorted(mvs), want)
        log = _entries(client, name)
        assert log == clean_log[name][:len(log)], f"{name} log {log} is not the clean one's"
        assert len(log) == events.get(name, 0), (name, len(log), events.get(name, 0))
        aliases, stages = _replay(log)
        model = client.get_registered_model(name)
        assert model.aliases == aliases, (name, model.aliases, aliases)
        for alias, num in model.aliases.items():
            assert num in mvs, f"{name}@{alias} -> missing version {num}"
            assert client.get_model_version_by_alias(name, alias).version == num
            assert alias in mvs[num].aliases
        for num, mv in mvs.items():
            assert mv.current_stage == stages.get(num, "None"), (name, num, mv.current_stage)
            assert sorted(mv.aliases) == sorted(a for a, v in aliases.items() if v == num)
        if want and widget:
            panel = tb.registry_panel(name, tracking_uri=str(root)).state()
            assert [r["version"] for r in panel["versions"]] == list(range(want, 0, -1))
            assert panel["aliases"] == dict(sorted(aliases.items()))
            assert panel["history_total"] == len(log)
        parts.append(f"{name}: v1..{want} {len(log)} ev {','.join(sorted(aliases)) or '-'}")
    for name in {"m", "n"} - models:
        with pytest.raises(RegisteredModelNotFoundError):
            client.get_registered_model(name)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["doctor", "--store", str(root)])
    assert status == 0, f"doctor: {out.getvalue()}"
    return "; ".join(parts) or "no model"


@pytest.mark.slow
def test_kill_during_registry_claims(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    server = Server()
    try:
        _run_all(server, tmp_path, request)
    finally:
        server.close()


def _run_all(server: Server, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    setup = tmp_path / "setup" / "store"
    setup.mkdir(parents=True)
    assert server.run(setup, "reg_setup", 0, "before") is not None
    clean = tmp_path / "clean" / "store"
    shutil.copytree(setup.parent, clean.parent)
    out = server.run(clean, "registry", 0, "before")
    assert out is not None
    steps: list[str] = out["steps"]
    assert sum(s.startswith("link ") for s in steps) >= 12, steps
    client = tb.MlflowClient(str(clean))
    clean_log = {name: _entries(client, name) for name in ("m", "n")}
    rows: list[tuple[str, ...]] = []
    failures: list[str] = []
    points = [(k, "before") for k in range(1, len(steps) + 1)] + [(len(steps), "after")]
    for k, when in points:
        root = tmp_path / f"k{k}-{when}" / "store"
        shutil.copytree(setup.parent, root.parent)
        assert server.run(root, "registry", k, when) is None, f"step {k} did not kill"
        done = steps[:k - 1] if when == "before" else steps[:k]
        models, versions, events = committed(done)
        try:
            rows.append((str(k), when, steps[k - 1], check(root, models, versions, events,
                                                            clean_log)))
            more = server.run(root, "reg_more", 0, "before")
            assert more is not None
            want = versions.get("m", 0) + 1 if "m" in models else 1
            assert more["version"] == want, f"next registration got {more['version']}, not {want}"
            seen = clean_log["m"][:events.get("m", 0)]
            moved = (len(seen) + 1, "alias", "champion", want,
                     _replay(seen)[0].get("champion"), want, ())
            rows.append((str(k), "more", f"(fresh process: register v{want}, @champion)",
                         check(root, models | {"m"}, {**versions, "m": want},
                               {**events, "m": len(seen) + 1},
                               {**clean_log, "m": [*seen, moved]}, widget=False)))
        except AssertionError as exc:
            rows.append((str(k), when, steps[k - 1], "FAIL"))
            failures.append(f"k={k} {when} ({steps[k - 1]}): {exc}")
    report(request, "SIGKILL before write step k of registry claims", rows)
    assert not failures, "\n".join(failures)
