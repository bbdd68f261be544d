#!/usr/bin/env python3
"""Sums an `ncu --csv --metrics gpu__time_duration.sum` log by kernel: where the GPU time goes.

usage: ncu_summary.py LOG.csv [--skip REGEX] [--per N] [--by-grid]
  --skip   drop kernels whose name matches (e.g. the random-weight initialisation)
  --per    divide totals by N (e.g. the number of decode steps profiled)
  --by-grid  keep launches of one kernel with different grids apart (GEMM shapes)
With dram__bytes_read.sum and dram__bytes_write.sum also collected, the table adds each kernel's
device-memory traffic and its rate (how far a memory-bound kernel is from the bandwidth).
"""
import argparse
import collections
import csv
import re
import sys


def short_name(name: str) -> str:
    name = re.sub(r"^void ", "", name)
    name = name.replace("(anonymous namespace)", "anon").replace("<unnamed>", "anon")
    name = name.split("(")[0]
    name = re.sub(r"<.*", "", name)
    name = name.split("::")[-1]
    return name[:70]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--skip", default=None)
    ap.add_argument("--per", type=float, default=1.0)
    ap.add_argument("--by-grid", action="store_true")
    a = ap.parse_args()
    with open(a.log, newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    rows = list(csv.DictReader(lines))
    if not rows:
        print(f"{a.log}: no ncu rows", file=sys.stderr)
        return 1
    total = collections.Counter()
    count = collections.Counter()
    traffic = collections.Counter()  # bytes read + written, where collected
    byte_scale = {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "KB": 1e3, "MB": 1e6,
                  "GB": 1e9}
    for r in rows:
        metric = r.get("Metric Name")
        name = r["Kernel Name"]
        if a.skip and re.search(a.skip, name):
            continue
        key = short_name(name)
        if a.by_grid:
            key += " " + r.get("Grid Size", "")
        value = float(r["Metric Value"].replace(",", ""))
        unit = r.get("Metric Unit", "ns")
        if metric in ("dram__bytes_read.sum", "dram__bytes_write.sum"):
            traffic[key] += value * byte_scale.get(unit, 1) / a.per
            continue
        if metric != "gpu__time_duration.sum":
            continue
        scale = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0,
                 "msecond": 1.0}.get(unit, 1e-6)
        total[key] += value * scale / a.per
        count[key] += 1 / a.per
    grand = sum(total.values())
    with_bytes = bool(traffic)
    extra_head = " GB | TB/s |" if with_bytes else ""
    extra_rule = "---:|---:|" if with_bytes else ""
    print(f"| kernel | launches | total ms | mean us | share |{extra_head}")
    print(f"|---|---:|---:|---:|---:|{extra_rule}")
    for key, ms in total.most_common():
        row = (f"| {key} | {count[key]:.0f} | {ms:.3f} | {1e3 * ms / count[key]:.1f} | "
               f"{100 * ms / grand:.1f}% |")
        if with_bytes:
            gb = traffic[key] / 1e9
            row += f" {gb:.3f} | {gb / ms:.2f} |" if ms > 0 else " | |"
        print(row)
    line = f"| all | {sum(count.values()):.0f} | {grand:.3f} | | 100% |"
    if with_bytes:
        gb = sum(traffic.values()) / 1e9
        line += f" {gb:.3f} | {gb / grand:.2f} |" if grand > 0 else " | |"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
