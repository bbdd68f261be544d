#!/usr/bin/env python3
"""Summarizes the persistent v1 decode's phase trace (XLSTM_PD_TRACE=FILE, see
decode_persistent_v1.h): per layer, the median and the last block's time (us since the launch's
first reading) at each phase boundary, and what the phases cost summed over the layers.
  python3 scripts/debug/v1_trace_summary.py FILE [--skip N]   (N launches skipped: warm-up)"""
import argparse
import struct
import sys

import numpy as np

NAMES = ["start", "norm", "up", "qkv", "cell", "out", "down", "prod_up", "prod_down", "cell_waits",
         "cell_C", "cell_stats"]
# The cell's parts in the blocks with a tile (the others leave points 9 .. 11 at 0): each a
# duration within one block, from point a to point b.
CELL_PARTS = [("cell: q/k/gate waits", 3, 9), ("cell: C", 9, 10), ("cell: stats wait", 10, 11),
              ("cell: out", 11, 4)]


def launches(path):
    data = open(path, "rb").read()
    at = 0
    while at < len(data):
        G, L, P = struct.unpack_from("<3q", data, at)
        at += 24
        n = G * L * P
        t = np.frombuffer(data, dtype="<u8", count=n, offset=at).reshape(G, L, P)
        at += 8 * n
        yield t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--skip", type=int, default=2)
    ap.add_argument("--detail", type=int, default=1, help="launches printed layer by layer")
    a = ap.parse_args()
    runs = list(launches(a.file))[a.skip:]
    if not runs:
        sys.exit(f"{a.file}: no launch after skipping {a.skip}")
    totals = {}
    for k, t in enumerate(runs):
        G, L, P = t.shape
        if (t[:, :, :9] == 0).any():
            print(f"launch {k}: {(t[:, :, :9] == 0).sum()} readings missing", file=sys.stderr)
        t0 = t[t > 0].min()
        rel = (t.astype(np.int64) - int(t0)) / 1e3
        med, last = np.median(rel, axis=0), rel.max(axis=0)  # [L, P]
        if k < a.detail:
            print(f"## launch {k}: {G} blocks, {L} layers (us since the first reading; med / last)")
            print("| layer | " + " | ".join(NAMES[:9]) + " |")
            print("|---" * 10 + "|")
            for l in range(L):
                print(f"| {l} | " + " | ".join(f"{med[l, p]:.1f} / {last[l, p]:.1f}"
                                              for p in range(9)) + " |")
        # Phase p's cost per layer: the last block's boundary p minus the last block's p - 1
        # (the critical path as the grid sees it).
        for p in range(1, 7):
            totals.setdefault(NAMES[p], []).append((last[:, p] - last[:, p - 1]).sum())
        totals.setdefault("launch", []).append(last[:, 6].max())
        if P > 9:
            tiles = (t[:, :, 9] > 0).all(axis=1)  # [G] the blocks with a cell tile
            for name, a_, b_ in CELL_PARTS:
                d = (t[tiles][:, :, b_].astype(np.int64) - t[tiles][:, :, a_].astype(np.int64)) / 1e3
                totals.setdefault(name + " (median)", []).append(np.median(d, axis=0).sum())
                totals.setdefault(name + " (max)", []).append(d.max(axis=0).sum())
        # How much the producer ran ahead: the last block's up-weight start vs its norm end.
        totals.setdefault("prod_up_lead", []).append((last[:, 1] - last[:, 7]).mean())
    print(f"\n## over {len(runs)} launches (us, mean; phase = the last block's boundary minus "
          "the last block's previous one, summed over layers)")
    for name, v in totals.items():
        print(f"{name:28s} {np.mean(v):9.1f}")


if __name__ == "__main__":
    main()
