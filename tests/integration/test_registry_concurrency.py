"""Registry writes from several real processes at once (design rule 4)."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import trackbook as tb

Spawn = Callable[..., subprocess.Popen]  # the ``spawn`` fixture of conftest.py

PROCESSES = 4
PER_PROCESS = 5

REGISTER = """
import json, sys
from pathlib import Path
import trackbook as tb
go = Path(sys.argv[1])
while not go.exists():
    pass
versions = [tb.register_model("/models/shared", "shared-model",
                              tags={"writer": sys.argv[2]}).version
            for _ in range(int(sys.argv[3]))]
print(json.dumps(versions))
"""

PROMOTE = """
import json, sys
from pathlib import Path
import trackbook as tb
go = Path(sys.argv[1])
c = tb.Client()
while not go.exists():
    pass
w = int(sys.argv[2])
for i in range(10):
    v = 1 + (w * 10 + i) % 8
    c.set_registered_model_alias("m", "champion", v, comment=f"w{w}")
    c.transition_model_version_stage("m", v, "Production", archive_existing_versions=True)
print("ok")
"""


def _wait(procs: list[subprocess.Popen]) -> list[str]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outs.append(out)
    return outs


def test_concurrent_registrations_get_distinct_consecutive_versions(
        spawn: Spawn, tb_store: Path, tmp_path: Path) -> None:
    tb.Client().create_registered_model("shared-model")
    go = tmp_path / "go"
    procs = [spawn(REGISTER, str(go), str(w), str(PER_PROCESS)) for w in range(PROCESSES)]
    go.touch()
    got = [v for out in _wait(procs) for v in json.loads(out)]
    assert sorted(got) == list(range(1, PROCESSES * PER_PROCESS + 1))  # no duplicates, no gaps
    versions = tb.Client().search_model_versions("name = 'shared-model'")
    assert len(versions) == PROCESSES * PER_PROCESS
    assert {v.tags["writer"] for v in versions} == {str(w) for w in range(PROCESSES)}


def test_concurrent_promotions_leave_one_holder_and_a_complete_log(
        spawn: Spawn, tb_store: Path, tmp_path: Path) -> None:
    c = tb.Client()
    c.create_registered_model("m")
    for _ in range(8):
        c.create_model_version("m", "/p")
    go = tmp_path / "go"
    procs = [spawn(PROMOTE, str(go), str(w)) for w in range(PROCESSES)]
    go.touch()
    _wait(procs)
    versions = c.search_model_versions("name = 'm'")
    production = [v.version for v in versions if v.current_stage == "Production"]
    holders = [v.version for v in versions if "champion" in v.aliases]
    assert len(production) == 1
    assert len(holders) == 1
    log = c.get_model_version_history("m")
    assert len([e for e in log if e.action == "stage"]) == PROCESSES * 10
    assert [e.seq for e in log] == sorted(e.seq for e in log)
    # Every alias move's "from" is the holder the previous move installed.
    moves = [e for e in log if e.action == "alias"]
    for before, after in itertools.pairwise(moves):
        assert after.from_ == before.to
    # A fresh reader (no cache) folds the same state.
    from trackbook.registry import Registry

    fresh = Registry(tb_store)
    assert fresh.by_alias("m", "champion").version == holders[0]
    assert fresh.latest("m", "Production").version == production[0]
