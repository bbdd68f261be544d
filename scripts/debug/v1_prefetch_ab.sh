#!/usr/bin/env bash
# The persistent v1 decode with and without its per-layer L2 prefetch of the small vectors
# (XLSTM_PD_V1_PREFETCH): the v1 and family GPU tests, phase traces, decode B=1 tok/s interleaved.
#   scripts/cuda_remote_tests.sh exec scripts/debug/v1_prefetch_ab.sh
set -u
timeout 200 build/tests/test_cuda_v1_decode 2>&1 | grep -E "PASSED|FAILED|Failure" | head; 
timeout 150 build/tests/test_cuda_family 2>&1 | grep -E "PASSED|FAILED  \]" | head -8
for pf in on off; do
  XLSTM_GRAPHS=0 XLSTM_PD_V1_PREFETCH=$pf XLSTM_PD_TRACE=/tmp/tr_$pf.bin build/bin/xlstm bench --config bench/configs/xlstm-1.3b-7to1.json --device cuda --prompt-len 16 --gen 8 --batch 1 --reps 1 >/dev/null 2>&1
  echo "## trace prefetch $pf"; python3 scripts/debug/v1_trace_summary.py /tmp/tr_$pf.bin --skip 7 --detail 0
done
for round in 1 2; do for cfg in xlstm-1.3b-7to1 xlstm-1.3b-1to0; do for pf in on off; do
  echo -n "$cfg prefetch=$pf "; XLSTM_PD_V1_PREFETCH=$pf build/bin/xlstm bench --config bench/configs/$cfg.json --device cuda --prompt-len 2048 --gen 128 --batch 1 --reps 2 2>&1 | tail -1
done; done; done
