#!/usr/bin/env bash
# The persistent v1 decode of this build against variant builds packed beside it
# (XLSTM_VARIANTS at pack time: build/bin/xlstm_<name>) and against this build with its per-layer
# L2 prefetch of the small vectors (XLSTM_PD_V1_PREFETCH=on): the v1 and family GPU tests (and
# a variant's own test_cuda_v1_decode where packed), a phase trace of each, then decode B=1
# tok/s of the 1.3B 7:1 and 1:0 stacks, interleaved, two rounds (ROUNDS="1"; PREFETCH=0 leaves
# the prefetch run out). From a bundle:
#   scripts/cuda_remote_tests.sh exec scripts/debug/v1_variants_ab.sh   (log: $OUT/v1_variants_ab.log)
. "$(dirname "$0")/start_log.sh"
start_log v1_variants_ab
timeout 200 build/tests/test_cuda_v1_decode 2>&1 | grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]" | tee -a "$log"
timeout 150 build/tests/test_cuda_family 2>&1 | grep -E "PASSED|FAILED  \]" | tee -a "$log"
for t in build/tests/test_cuda_v1_decode_*; do  # the variants' own (cuda_remote_tests.sh pack)
  [ -x "$t" ] || continue
  echo "## $(basename "$t")" | tee -a "$log"
  timeout 200 "$t" 2>&1 | grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]" | tee -a "$log"
done
# "binary prefetch" pairs: every variant with the prefetch off, this build both ways.
runs="xlstm:off"
[ "${PREFETCH:-1}" = 1 ] && runs="$runs xlstm:on"
for bin in build/bin/xlstm_*; do
  [ -x "$bin" ] && runs="$runs $(basename "$bin"):off"
done
for run in $runs; do
  bin=${run%:*} pf=${run#*:} trace=/tmp/v1_variants_trace.bin
  rm -f "$trace"
  XLSTM_GRAPHS=0 XLSTM_PD_V1_PREFETCH=$pf XLSTM_PD_TRACE=$trace timeout 120 "build/bin/$bin" \
    bench --config bench/configs/xlstm-1.3b-7to1.json --device cuda --prompt-len 16 --gen 8 \
    --batch 1 --reps 1 2>&1 | grep -iE "error|unsupported" | tail -3 | tee -a "$log"
  echo "## trace, $bin, prefetch $pf" | tee -a "$log"
  python3 scripts/debug/v1_trace_summary.py "$trace" --skip 7 --detail 0 2>&1 | tee -a "$log"
done
for round in ${ROUNDS:-1 2}; do
  for cfg in xlstm-1.3b-7to1 xlstm-1.3b-1to0; do
    for run in $runs; do
      bin=${run%:*} pf=${run#*:}
      echo "### $cfg, $bin, prefetch $pf, decode B=1" | tee -a "$log"
      XLSTM_PD_V1_PREFETCH=$pf timeout 120 "build/bin/$bin" bench --config "bench/configs/$cfg.json" \
        --device cuda --prompt-len 2048 --gen 128 --batch 1 --reps 2 2>&1 | tail -1 | tee -a "$log"
    done
  done
done
