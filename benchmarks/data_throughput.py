"""Data throughput: preparation and batching vs a plain `csv` module reader, on synthetic Criteo rows.

    python benchmarks/data_throughput.py [--rows 1000000] [--batch 512]

Prints rows/s for: preparing the raw TSV (parse + encode + write + split), and iterating all batches of the
prepared train split as torch tensors; each beside the baseline (csv.reader with per-row int/float
conversion into Python lists; batches made from those lists with torch.tensor), and their ratios.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import tempfile
import time
from pathlib import Path

import torch

from nasrec.data import prepare, write_criteo_tsv


def baseline_parse(path: Path) -> tuple[list, list, list]:
    dense, sparse, label = [], [], []
    with open(path, newline="") as f:
        for row in csv.reader(f, delimiter="\t"):
            label.append(float(row[0]))
            dense.append([math.log(max(float(x), 0) + 1) if x else 0.0 for x in row[1:14]])
            sparse.append([int(x, 16) % 1000 if x else 0 for x in row[14:40]])
    return dense, sparse, label


def baseline_batches(dense: list, sparse: list, label: list, batch: int) -> int:
    rows = 0
    for lo in range(0, len(label), batch):
        d = torch.tensor(dense[lo : lo + batch], dtype=torch.float32)
        s = torch.tensor(sparse[lo : lo + batch], dtype=torch.int64)
        y = torch.tensor(label[lo : lo + batch], dtype=torch.float32)
        rows += len(y) + 0 * (d.shape[0] + s.shape[0])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=512)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NASREC_CACHE"] = str(Path(tmp) / "cache")
        raw = Path(tmp) / "synthetic_criteo.tsv"
        t = time.perf_counter()
        write_criteo_tsv(raw, args.rows, seed=0)
        print(
            f"wrote {args.rows:,} synthetic Criteo rows ({raw.stat().st_size / 2**20:.0f} MiB) "
            f"in {time.perf_counter() - t:.1f}s"
        )

        t = time.perf_counter()
        data = prepare(raw, "criteo", progress=False)
        prep_s = time.perf_counter() - t
        t = time.perf_counter()
        data_h = prepare(raw, "criteo", encoding="hash", out=Path(tmp) / "hashed", progress=False)
        prep_h = time.perf_counter() - t
        t = time.perf_counter()
        prepare(raw, "criteo", progress=False)
        hit_s = time.perf_counter() - t
        t = time.perf_counter()
        dense, sparse, label = baseline_parse(raw)
        base_prep = time.perf_counter() - t

        train = data.split("train")
        t = time.perf_counter()
        n = sum(len(b.label) for b in train.batches(args.batch))
        batch_s = time.perf_counter() - t
        t = time.perf_counter()
        n_sh = sum(len(b.label) for b in train.batches(args.batch, shuffle=True, seed=0))
        shuf_s = time.perf_counter() - t
        idx = train.indices.tolist()
        d_l, s_l, y_l = [dense[i] for i in idx], [sparse[i] for i in idx], [label[i] for i in idx]
        t = time.perf_counter()
        n_b = baseline_batches(d_l, s_l, y_l, args.batch)
        base_batch = time.perf_counter() - t
        assert n == n_sh == n_b == len(train) and len(data_h) == len(data) == args.rows

    rows = args.rows
    print(f"{'':34}{'rows/s':>14}{'baseline rows/s':>18}{'ratio':>8}")
    for name, secs, base, count in [
        ("prepare (vocab encoding)", prep_s, base_prep, rows),
        ("prepare (hash encoding)", prep_h, base_prep, rows),
        (f"batches of {args.batch}, train split", batch_s, base_batch, n),
        (f"batches of {args.batch}, shuffled", shuf_s, base_batch, n),
    ]:
        print(f"{name:34}{count / secs:>14,.0f}{count / base:>18,.0f}{base / secs:>7.1f}x")
    print(f"cache hit (second prepare): {hit_s * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
