"""Renaming a registered model while other processes write to it (design rule 4)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import trackbook as tb
from trackbook.registry import Registry

Spawn = Callable[..., subprocess.Popen]  # the ``spawn`` fixture of conftest.py

WRITERS = 4

REGISTER_UNTIL_RENAMED = """
import json, sys
from pathlib import Path
import trackbook as tb
from trackbook.registry.errors import RegisteredModelRenamedError
go = Path(sys.argv[1])
while not go.exists():
    pass
got, refused = [], None
for i in range(5000):  # stopped by the rename long before
    try:
        mv = tb.register_model("/models/x", "old", tags={"writer": sys.argv[2], "i": str(i)})
    except RegisteredModelRenamedError as exc:
        refused = exc.new_name
        break
    got.append([mv.name, mv.version, i])
print(json.dumps({"got": got, "refused": refused}))
"""

RENAME = """
import json, sys
from pathlib import Path
import trackbook as tb
from trackbook.registry.errors import RegisteredModelRenamedError
go = Path(sys.argv[1])
while not go.exists():
    pass
try:
    tb.Client().rename_registered_model("m", sys.argv[2])
    print(json.dumps({"won": sys.argv[2]}))
except RegisteredModelRenamedError as exc:
    print(json.dumps({"lost_to": exc.new_name}))
"""


def _outs(procs: list[subprocess.Popen]) -> list[dict]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out))
    return outs


def test_registrations_racing_a_rename_all_land_in_the_renamed_model(
        spawn: Spawn, tb_store: Path, tmp_path: Path) -> None:
    c = tb.Client()
    c.create_registered_model("old")
    go = tmp_path / "go"
    procs = [spawn(REGISTER_UNTIL_RENAMED, str(go), str(w)) for w in range(WRITERS)]
    go.touch()
    deadline = time.monotonic() + 60
    while len(c.search_model_versions("name = 'old'")) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    c.rename_registered_model("old", "new")
    outs = _outs(procs)
    returned = {(w, i): (name, v) for w, out in enumerate(outs) for name, v, i in out["got"]}
    assert all(out["refused"] == "new" for out in outs)  # every writer was stopped by it
    versions = c.search_model_versions("name = 'new'")
    assert sorted(v.version for v in versions) == list(range(1, len(versions) + 1))
    # No registration was lost or duplicated: each returned version is that writer's.
    assert len(versions) == len(returned)
    by_number = {v.version: v for v in versions}
    for (w, i), (_, number) in returned.items():
        assert by_number[number].tags == {"writer": str(w), "i": str(i)}
    assert {name for name, _ in returned.values()} <= {"old", "new"}
    assert Registry(tb_store).names() == ["new"]


def test_two_concurrent_renames_of_one_model_one_wins(
        spawn: Spawn, tb_store: Path, tmp_path: Path) -> None:
    c = tb.Client()
    c.create_registered_model("m")
    c.create_model_version("m", "/p")
    go = tmp_path / "go"
    procs = [spawn(RENAME, str(go), target) for target in ("a", "b")]
    go.touch()
    outs = _outs(procs)
    winners = [o["won"] for o in outs if "won" in o]
    assert len(winners) == 1
    loser = next(o for o in outs if "lost_to" in o)
    assert loser["lost_to"] == winners[0]
    assert [m.name for m in c.search_registered_models()] == winners
    renames = [e for e in c.get_model_version_history(winners[0]) if e.action == "rename"]
    assert [(e.from_, e.to) for e in renames] == [("m", winners[0])]
