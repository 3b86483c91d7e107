"""Log records are framed (``<json>\\t<crc32>\\n``): damage stays on its line, old
unframed logs still fold, and the README's recipe for reading logs without trackbook works."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trackbook as tb
from trackbook._errors import TrackbookWarning
from trackbook.store import events
from trackbook.store.catalog import Catalog
from trackbook.store.layout import Layout


def _runs(tb_store: Path) -> list[tuple[str, str, dict[str, str]]]:
    df = tb.search_runs(search_all_experiments=True, output_format="list")
    return sorted((r.info.run_id, r.info.status, r.data.params) for r in df)


def test_old_unframed_logs_fold_unchanged(tb_store: Path) -> None:
    for i in range(3):
        with tb.start_run():
            tb.log_params({"i": i, "lr": 0.1})
            tb.log_metric("loss", 1.0 / (i + 1))
    before = _runs(tb_store)
    layout = Layout.at(tb_store)
    for _, path in events.iter_logs(layout):  # as a store written before framing
        data = path.read_bytes()
        assert data.count(b"\t") == data.count(b"\n")  # today's logs are framed
        path.write_bytes(b"".join(line.rpartition(b"\t")[0] + b"\n"
                                  for line in data.splitlines()))
    Catalog(layout).rebuild()
    assert _runs(tb_store) == before


def test_a_damaged_record_is_skipped_with_its_file_and_offset(tb_store: Path) -> None:
    with tb.start_run() as run:
        tb.set_tag("a", "1")
        tb.set_tag("b", "2")  # this record gets a flipped byte: still valid JSON
        tb.set_tag("c", "3")
    path = tb.Client().store.session.log.path
    data = path.read_bytes()
    at = data.index(b'"b":"2"')
    path.write_bytes(data[:at] + b'"b":"7"' + data[at + 7:])
    line_start = data.rindex(b"\n", 0, at) + 1
    with pytest.warns(TrackbookWarning, match=rf"{path.name} at byte {line_start} "):
        Catalog(Layout.at(tb_store)).rebuild()
    tags = tb.Client().get_run(run.info.run_id).data.tags
    assert (tags["a"], tags["c"]) == ("1", "3")
    assert "b" not in tags  # the damaged record alone is lost, not its run


def test_the_readme_recipe_reads_framed_logs(tb_store: Path) -> None:
    import pandas as pd

    with tb.start_run():
        tb.log_params({"lr": 0.5})
    pattern = str(tb_store / "log" / "*.jsonl")
    log = pd.DataFrame([json.loads(line.rpartition("\t")[0] or line)
                        for f in glob.glob(pattern)
                        for line in open(f, encoding="utf-8")  # noqa: SIM115 - README's
                        if line.endswith("\n")])
    assert list(log[log.op == "params"]["data"]) == [{"lr": "0.5"}]


records = st.dictionaries(st.text(max_size=8), st.one_of(
    st.text(), st.integers(), st.floats(allow_nan=False), st.none(), st.booleans()),
    max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(records, min_size=1, max_size=8), st.data())
def test_any_damage_to_one_line_leaves_the_others_readable(
        batch: list[dict[str, object]], data: st.DataObject) -> None:
    recs = [{"op": "tags", "i": i, "data": r} for i, r in enumerate(batch)]
    lines = [events.frame(r) for r in recs]
    assert events.parse_lines(b"".join(lines)) == recs  # the fast path
    victim = data.draw(st.integers(0, len(lines) - 1))
    line = bytearray(lines[victim])
    pos = data.draw(st.integers(0, len(line) - 2))  # keep its newline: a torn line's
    line[pos] = data.draw(st.integers(0, 255).filter(lambda b: b not in (line[pos], 10)))
    damaged = b"".join([*lines[:victim], bytes(line), *lines[victim + 1:]])
    # CRC-32 catches every single-byte error; a flipped tab leaves no valid JSON either
    with pytest.warns(TrackbookWarning, match="damaged record"):
        got = events.parse_lines(damaged, "w.jsonl")
    assert got == [r for i, r in enumerate(recs) if i != victim]
