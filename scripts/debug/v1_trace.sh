#!/usr/bin/env bash
# Where the persistent v1 decode's time goes: phase traces (XLSTM_PD_TRACE) of a few eager decode
# steps of a stack (graphs off: a captured launch is not traced), summarized per phase. From a
# bundle made here:
#   scripts/cuda_remote_tests.sh exec scripts/debug/v1_trace.sh      (log: $OUT/v1_trace.log)
# CONFIG=... another stack; EXTRA_BINS="xlstm_variant ..." other builds in build/bin, same run.
. "$(dirname "$0")/start_log.sh"
cfg=${CONFIG:-bench/configs/xlstm-1.3b-7to1.json}
start_log v1_trace "$cfg"
for bin in xlstm ${EXTRA_BINS:-}; do
  trace=/tmp/v1_trace_$bin.bin
  rm -f "$trace"
  echo "## $bin" | tee -a "$log"
  XLSTM_GRAPHS=off XLSTM_PD_TRACE=$trace timeout 120 "build/bin/$bin" \
    bench --config "$cfg" --device cuda --prompt-len 16 --gen 8 --batch 1 --reps 1 2>&1 |
    tail -1 | tee -a "$log"
  python3 scripts/debug/v1_trace_summary.py "$trace" --skip 7 2>&1 | tee -a "$log"
done
