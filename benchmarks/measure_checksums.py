"""Cost of Parquet page checksums (write, verified read) and of the per-process probe of
metric files before SQL reads them: `PYTHONPATH=src python benchmarks/measure_checksums.py`."""
import os, sys, time, tempfile, statistics
import numpy as np, pyarrow as pa, pyarrow.parquet as pq

from trackbook.store import metrics, damaged

d = tempfile.mkdtemp()
n = 1000
def table(rows):
    return metrics.build_table("r" * 32, [("loss", float(i), i, 1700000000000 + i) for i in range(rows)])
t_small, t_big = table(1000), table(1_000_000)
def best(f, k=5):
    xs = []
    for _ in range(k):
        t0 = time.perf_counter(); f(); xs.append(time.perf_counter() - t0)
    return min(xs)
# chunk writes: 1000-row chunk, uncompressed (write_chunk's small path), with and without checksums
for ck in (False, True):
    w = best(lambda: [pq.write_table(t_small, f"{d}/s{i}.parquet", compression="none", use_dictionary=False, write_page_checksum=ck) for i in range(200)])
    print(f"write 200 x 1k-row chunks checksum={ck}: {w*1000/200:.3f} ms each")
    w = best(lambda: pq.write_table(t_big, f"{d}/big{ck}.parquet", write_page_checksum=ck, **{k: v for k, v in metrics._COMPACT_ENCODING.items() if k != 'write_page_checksum'}), 3)
    print(f"write 1M-row compacted file checksum={ck}: {w*1000:.1f} ms")
for v in (False, True):
    r = best(lambda: [pq.ParquetFile(f"{d}/s{i}.parquet", page_checksum_verification=v).read() for i in range(200)])
    print(f"read 200 x 1k-row chunks verify={v}: {r*1000/200:.3f} ms each")
    r = best(lambda: pq.ParquetFile(f"{d}/bigTrue.parquet", page_checksum_verification=v).read(), 3)
    print(f"read 1M-row compacted verify={v}: {r*1000:.1f} ms")
import duckdb
con = duckdb.connect()
paths = [f"{d}/s{i}.parquet" for i in range(200)]
def first():
    damaged.forget(); damaged.usable(paths, con)
print(f"usable() first sight, 200 small chunks (full CRC): {best(first)*1000/200:.3f} ms per file")
print(f"usable() again (cached):  {best(lambda: damaged.usable(paths, con))*1000/200*1000:.1f} us per file")
def first_big():
    damaged.forget(); damaged.usable([f"{d}/bigTrue.parquet"], con)
print(f"usable() first sight, 1M-row compacted file (structure + footer): {best(first_big)*1000:.2f} ms")
print(f"duckdb scan of the 200 chunks: {best(lambda: con.read_parquet(paths).aggregate('sum(value)').fetchall())*1000/200:.3f} ms per file")
