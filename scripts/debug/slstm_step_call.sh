#!/usr/bin/env bash
# One device call for the sLSTM decode step with its gate projections in one launch
# (XLSTM_SLSTM_STEP=projected, against split: the launches it replaces), beside the v1 timing
# probes one bit at a time and an ncu per-kernel profile of a decode step. Bundle: this build,
# with the wip/probe build as xlstm_head
# (XLSTM_VARIANTS=/work/build-head/bin/xlstm scripts/cuda_remote_tests.sh pack):
#   scripts/cuda_remote_tests.sh exec scripts/debug/slstm_step_call.sh   (log: $OUT/slstm_step.log)
. "$(dirname "$0")/start_log.sh"
start_log slstm_step
family_checks
bench() {  # binary, settings, then the bench arguments
  local bin=$1 settings=$2
  shift 2
  # shellcheck disable=SC2046
  env $(tr ',' ' ' <<<"$settings") timeout 120 "build/bin/$bin" bench "$@" 2>&1 | tail -1 |
    tee -a "$log"
}
for round in 1 2; do
  for mode in split projected; do
    echo "### round $round, 1.3B 7:1, decode B=1, XLSTM_SLSTM_STEP=$mode" | tee -a "$log"
    bench xlstm XLSTM_SLSTM_STEP=$mode --config bench/configs/xlstm-1.3b-7to1.json --device cuda \
      --prompt-len 2048 --gen 128 --batch 1 --reps 2
  done
done
for b in 1 4; do
  for mode in split projected; do
    echo "### all-sLSTM 24x1024, decode B=$b, XLSTM_SLSTM_STEP=$mode" | tee -a "$log"
    bench xlstm XLSTM_SLSTM_STEP=$mode --config bench/configs/slstm-24x1024.json --device cuda \
      --prompt-len 512 --gen 128 --batch "$b" --reps 2
  done
done
for p in ${PROBES:-4 8 16}; do
  echo "### xlstm_head, XLSTM_PD_V1_PROBE=$p, 1.3B 7:1 decode B=1" | tee -a "$log"
  bench xlstm_head XLSTM_PD_V1_PROBE=$p --config bench/configs/xlstm-1.3b-7to1.json --device cuda \
    --prompt-len 2048 --gen 128 --batch 1 --reps 1
done
echo "## ncu, 1.3B 7:1, 3 decode steps after a 1-token prompt, per call (projected)" | tee -a "$log"
timeout 120 ncu --csv --cache-control none --clock-control none \
  --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
  build/bin/xlstm bench --config bench/configs/xlstm-1.3b-7to1.json --device cuda --prompt-len 1 \
  --gen 3 --batch 1 --reps 1 > /tmp/ncu_decode.csv 2>/dev/null
python3 bench/ncu_summary.py /tmp/ncu_decode.csv \
  --skip 'fill_(normal|value)_kernel|scale_columns_kernel' --per 4 | head -40 | tee -a "$log"
