#!/usr/bin/env bash
# The portable build (XLSTM_NATIVE=OFF: x86-64-v2 baseline, hot kernels dispatched at run time)
# against the native build and a plain x86-64-v2 build without dispatch, interleaved, on the CPU.
# Usage: bench/run_portable_compare.sh NATIVE_BIN V2_BIN PORTABLE_BIN   (bench/results/cpu_portable.md)
set -euo pipefail
cd "$(dirname "$0")/.."
for round in 1 2; do
  for bin in "$@"; do
    echo "== $bin (round $round)"
    "$bin" bench --config bench/configs/xlstm-125m.json --prompt-len 256 --gen 32 --batch 1,4 \
      --threads 2 --weights bf16 --reps 3 | grep -E "^cpu kernels|^\|  "
    "$bin" bench --config bench/configs/xlstm-125m.json --prompt-len 256 --gen 32 --batch 1 \
      --threads 2 --weights f32 --reps 3 | grep -E "^\|  "
    "$bin" bench -m models/family-shakespeare --prompt-len 256 --gen 64 --batch 1,4 --threads 2 \
      --reps 3 | grep -E "^\|  "
  done
done
