#!/usr/bin/env bash
# Our side of the family benchmark (GPU machine, from the repository root, binaries from
# cuda_remote_tests.sh pack): xLSTM Large before/after the block registry (build/bin/xlstm_before,
# when carried) interleaved in one run, the fused sLSTM recurrence alone, and the 1.3B 7:1 and
# all-sLSTM stacks end to end (random bf16 weights). Logs to $OUT/family_ours.log.
#   scripts/cuda_remote_tests.sh exec scripts/cuda_family_bench.sh
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
large=tests/fixtures/configs/xlstm-7b.json
{
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
  echo "## xLSTM Large (7B shape): before (xlstm_before) and after the registry, interleaved"
  for round in ${XLSTM_LARGE_ROUNDS:-1 2}; do
    for bin in xlstm_before xlstm; do
      [ -x build/bin/$bin ] || continue
      echo "### $bin round $round: prefill S=8192 B=1"
      timeout 120 build/bin/$bin bench --config $large --device cuda --prompt-len 8192 --gen 0 \
        --batch 1 --reps 2 2>&1 | tail -1
      echo "### $bin round $round: decode B=1 (128 steps)"
      timeout 120 build/bin/$bin bench --config $large --device cuda --prompt-len 64 --gen 128 \
        --batch 1 --reps 2 2>&1 | tail -1
    done
  done
  echo "## sLSTM recurrence alone, 4 x 512 (us per step per layer)"
  timeout 60 build/bin/slstm_recurrence_bench --heads 4 --head-dim 512 --batch 1,8 --steps 2048
  timeout 60 build/bin/slstm_recurrence_bench --heads 4 --head-dim 512 --batch 1,8 --steps 2048 \
    --bf16 | tail -2
  echo "## the same, one step per launch (decode; the slice read from L2, not staged)"
  timeout 60 build/bin/slstm_recurrence_bench --heads 4 --head-dim 512 --batch 1,8 --steps 1 \
    --bf16 | tail -2
  echo "## 1.3B 7:1 stack (bench/configs/xlstm-1.3b-7to1.json), bf16"
  timeout 240 build/bin/xlstm bench --config bench/configs/xlstm-1.3b-7to1.json --device cuda \
    --prompt-len 2048 --gen 64 --batch 1,8,16 --reps 2 2>&1 | tail -6
  echo "## the same shape, mLSTM only (bench/configs/xlstm-1.3b-1to0.json), bf16"
  timeout 120 build/bin/xlstm bench --config bench/configs/xlstm-1.3b-1to0.json --device cuda \
    --prompt-len 2048 --gen 64 --batch 1 --reps 2 2>&1 | tail -1
  echo "## all-sLSTM 24 x 1024 (bench/configs/slstm-24x1024.json), bf16"
  timeout 120 build/bin/xlstm bench --config bench/configs/slstm-24x1024.json --device cuda \
    --prompt-len 2048 --gen 64 --batch 1,8 --reps 2 2>&1 | tail -5
} 2>&1 | tee "$OUT/family_ours.log"
