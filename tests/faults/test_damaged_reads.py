"""Damage stays in the damaged run (issue 13, item 4): regression tests over the public
API, each failing on the code before the fix. The whole matrix of file kinds x damages is
``test_corruption.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import trackbook as tb
from trackbook._errors import DamagedFileWarning


def _two_runs(n: int = 3000) -> tuple[str, str]:
    ids = []
    for name in ("healthy", "victim"):
        with tb.start_run(run_name=name) as run:
            tb.log_param("p", name)
            for s in range(n):
                tb.log_metric("loss", float(s), step=s)
        ids.append(run.info.run_id)
    tb.flush()
    return ids[0], ids[1]


def _chunk(root: Path, run_id: str) -> Path:
    return next((root / "runs" / run_id).glob("*.parquet"))


def _sql_points() -> dict[str, tuple[int, float]]:
    frame = tb.sql("SELECT run_id, count(*) AS n, sum(value) AS s FROM metrics GROUP BY 1")
    return {r.run_id: (int(r.n), float(r.s)) for r in frame.itertuples()}


@pytest.mark.parametrize("damage", ["zero", "half"])
def test_a_truncated_metric_file_leaves_sql_to_the_healthy_runs(store: Path, damage: str
                                                                 ) -> None:
    healthy, victim = _two_runs()
    before = _sql_points()[healthy]
    path = _chunk(store, victim)
    data = path.read_bytes()
    path.write_bytes(b"" if damage == "zero" else data[: len(data) // 2])
    with pytest.warns(DamagedFileWarning, match=path.name):
        points = _sql_points()
    assert points[healthy] == before
    assert victim not in points
    assert len(tb.Client().get_metric_history(victim, "loss")) == 0  # warned once, above
    assert len(tb.Client().get_metric_history(healthy, "loss")) == 3000


def test_a_flipped_byte_in_a_data_page_is_caught_not_returned(store: Path) -> None:
    """Page checksums: a value changed on disk is never read back as if it were logged."""
    import pyarrow.parquet as pq

    healthy, victim = _two_runs()
    path = _chunk(store, victim)
    col = pq.read_metadata(path).row_group(0).column(2)  # value
    data = bytearray(path.read_bytes())
    data[col.data_page_offset + col.total_compressed_size - 8] ^= 0x40  # inside the values
    path.write_bytes(bytes(data))
    with pytest.warns(DamagedFileWarning, match="CRC") as caught:
        points = _sql_points()
    assert path.name in str(caught[0].message)
    assert victim not in points  # DuckDB checks no CRC: the file was probed before reading
    assert points[healthy] == (3000, float(sum(range(3000))))
    from trackbook.store import damaged

    damaged.forget()
    with pytest.warns(DamagedFileWarning, match="CRC"):
        assert len(tb.Client().get_metric_history(victim, "loss")) == 0


def test_a_damaged_run_start_line_keeps_the_run_visible(store: Path) -> None:
    healthy, victim = _two_runs(10)
    log = next(p for p in (store / "log").iterdir() if victim.encode() in p.read_bytes())
    lines = log.read_bytes().split(b"\n")
    i = next(i for i, line in enumerate(lines) if b"run_start" in line and victim.encode() in line)
    lines[i] = lines[i][:20] + b"\xff" + lines[i][21:]
    log.write_bytes(b"\n".join(lines))
    from trackbook.store.catalog import Catalog
    from trackbook.store.layout import Layout

    with pytest.warns(DamagedFileWarning, match=victim):
        Catalog(Layout.at(store)).rebuild()
    run = tb.Client().get_run(victim)
    assert run.data.params == {"p": "victim"}
    assert "trackbook.damaged" in run.data.tags
    assert run.info.status == "FINISHED"
    assert tb.Client().get_run(healthy).data.params == {"p": "healthy"}


@pytest.mark.parametrize("damage", ["garbage", "zero", "half"])
def test_a_damaged_catalog_rebuilds_itself(store: Path, damage: str) -> None:
    healthy, victim = _two_runs(10)
    assert len(tb.search_runs(output_format="list")) == 2
    _drop_replica(store)  # else this process answers from its in-memory copy
    catalog = store / "catalog.duckdb"
    data = catalog.read_bytes()
    catalog.write_bytes({"garbage": os.urandom(len(data)), "zero": b"",
                         "half": data[: len(data) // 2]}[damage])
    with pytest.warns(DamagedFileWarning, match="catalog"):
        frame = tb.sql("SELECT run_id FROM runs ORDER BY run_id")
    assert sorted(frame["run_id"]) == sorted([healthy, victim])
    assert list((store / "quarantine").glob("*/catalog.duckdb"))


def _drop_replica(root: Path) -> None:
    from trackbook.tracking import uri

    cached = uri._stores.pop(root.absolute(), None)
    if cached is not None:
        cached.mirror.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trackbook", *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))


def test_doctor_lists_then_repairs(store: Path) -> None:
    healthy, victim = _two_runs()
    path = _chunk(store, victim)
    path.write_bytes(path.read_bytes()[:100])
    config = store / "experiments"
    exp = next(config.glob("*.json"))
    exp.write_bytes(b"{not json")
    found = _cli("doctor", "--store", str(store))
    assert found.returncode == 1, found.stderr
    assert path.name in found.stdout
    assert exp.name in found.stdout
    fixed = _cli("doctor", "--repair", "--store", str(store))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "clean now" in fixed.stdout
    assert (store / "quarantine").is_dir()
    assert list((store / "quarantine").rglob(path.name))
    again = _cli("doctor", "--store", str(store))
    assert again.returncode == 0
    assert "no damaged files" in again.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _drop_replica(store)
        points = _sql_points()
    assert points[healthy] == (3000, float(sum(range(3000))))


def test_damage_inside_a_compacted_page_is_found_when_sql_trips_on_it(store: Path) -> None:
    """A compacted file is only probed for structure before SQL; when DuckDB then fails
    inside one of its pages, tb.sql finds the damaged file, warns and answers for the
    healthy runs."""
    import duckdb
    import pyarrow.parquet as pq

    ids = []
    for name in ("healthy", "victim"):
        with tb.start_run(run_name=name) as run:
            for k in range(8):  # eight flushes: the run is compacted at its end
                for s in range(500):
                    tb.log_metric("loss", float(s * k), step=k * 500 + s)
                tb.flush()
        ids.append(run.info.run_id)
    healthy, victim = ids
    before = _sql_points()[healthy]
    (path,) = (store / "runs" / victim).glob("m-*.parquet")
    column = pq.ParquetFile(path).metadata.row_group(0).column(2)  # value: zstd pages
    good = path.read_bytes()
    for offset in range(column.data_page_offset + 40,
                        column.data_page_offset + column.total_compressed_size, 37):
        bad = bytearray(good)
        bad[offset] ^= 0xFF
        path.write_bytes(bytes(bad))
        try:
            duckdb.sql(f"SELECT sum(value) FROM read_parquet('{path}')").fetchall()
        except duckdb.Error:
            break
    else:
        pytest.fail("no flipped byte in the value pages made DuckDB fail")
    os.utime(path, (1, 1))  # a new file version for the per-process probe cache
    with pytest.warns(DamagedFileWarning, match=path.name):
        points = _sql_points()
    assert points[healthy] == before
    assert victim not in points
