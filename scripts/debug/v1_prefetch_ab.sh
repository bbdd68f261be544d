#!/usr/bin/env bash
# The persistent v1 decode with and without its per-layer L2 prefetch of the small vectors
# (XLSTM_PD_V1_PREFETCH=on|off): the v1 and family GPU tests, phase traces of both, then decode
# B=1 tok/s of the 1.3B 7:1 and 1:0 stacks, on and off interleaved, two rounds. From a bundle:
#   scripts/cuda_remote_tests.sh exec scripts/debug/v1_prefetch_ab.sh   (log: $OUT/v1_prefetch_ab.log)
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
log=$OUT/v1_prefetch_ab.log
echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)" |
  tee "$log"
timeout 200 build/tests/test_cuda_v1_decode 2>&1 | grep -E "PASSED|FAILED|Failure" | tee -a "$log"
timeout 150 build/tests/test_cuda_family 2>&1 | grep -E "PASSED|FAILED  \]" | tee -a "$log"
for pf in on off; do
  trace=/tmp/v1_prefetch_trace_$pf.bin
  rm -f "$trace"
  XLSTM_GRAPHS=0 XLSTM_PD_V1_PREFETCH=$pf XLSTM_PD_TRACE=$trace timeout 120 build/bin/xlstm \
    bench --config bench/configs/xlstm-1.3b-7to1.json --device cuda --prompt-len 16 --gen 8 \
    --batch 1 --reps 1 >/dev/null 2>&1
  echo "## trace, prefetch $pf" | tee -a "$log"
  python3 scripts/debug/v1_trace_summary.py "$trace" --skip 7 --detail 0 2>&1 | tee -a "$log"
done
for round in 1 2; do
  for cfg in xlstm-1.3b-7to1 xlstm-1.3b-1to0; do
    for pf in on off; do
      echo "### $cfg, prefetch $pf, decode B=1" | tee -a "$log"
      XLSTM_PD_V1_PREFETCH=$pf timeout 120 build/bin/xlstm bench --config "bench/configs/$cfg.json" \
        --device cuda --prompt-len 2048 --gen 128 --batch 1 --reps 2 2>&1 | tail -1 | tee -a "$log"
    done
  done
done
