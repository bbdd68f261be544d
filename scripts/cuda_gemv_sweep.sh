#!/usr/bin/env bash
# On the GPU machine (through cuda_remote_tests.sh exec): decode B=1 tokens/s of the 7B shape for
# each one-row GEMV variant (XLSTM_GEMV_M1=rows per warp,pieces in flight; the plain GEMV of the out
# and down projections — the fused ones keep theirs), and cuBLASLt instead (no fusion then).
set -uo pipefail
for v in default 1,8 2,4 2,2 4,2 1,2 off; do
  unset XLSTM_GEMV XLSTM_GEMV_M1
  case $v in
    off) export XLSTM_GEMV=off ;;
    default) ;;
    *) export XLSTM_GEMV_M1=$v ;;
  esac
  printf "%-8s " "$v"
  build/bin/xlstm bench --config tests/fixtures/configs/xlstm-7b.json --device cuda --prompt-len 16 \
    --gen 128 --batch 1 --reps 3 2>&1 | tail -1
done
