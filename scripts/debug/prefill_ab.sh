#!/usr/bin/env bash
# Prefill before/after on the GPU machine, interleaved in one call: build/bin/xlstm_before (carried
# with XLSTM_BEFORE at pack time) against build/bin/xlstm on a family stack, then ncu's per-kernel
# sums of the new binary's B=8 prefill and, with SLSTM_DETAIL=1, ncu's detail sections for the
# sLSTM recurrence at B=1 and B=8. From a bundle made here:
#   scripts/cuda_remote_tests.sh exec scripts/debug/prefill_ab.sh      (log: $OUT/prefill_ab.log)
# CONFIG=... another stack; BATCHES="1 8"; ROUNDS="1 2"; PROFILE=0 skips the ncu sums,
# PROFILE_BATCHES="1 8" takes them for each batch (default 8).
. "$(dirname "$0")/start_log.sh"
cfg=${CONFIG:-bench/configs/xlstm-1.3b-7to1.json}
start_log prefill_ab
for round in ${ROUNDS:-1 2}; do
  for b in ${BATCHES:-1 8}; do
    for bin in xlstm_before xlstm; do
      [ -x build/bin/$bin ] || continue
      echo "### $bin round $round: $cfg prefill S=2048 B=$b" | tee -a "$log"
      timeout 120 build/bin/$bin bench --config "$cfg" --device cuda --prompt-len 2048 --gen 0 \
        --batch "$b" --reps 2 2>&1 | tail -1 | tee -a "$log"
    done
  done
done
if [ "${PROFILE:-1}" = 1 ]; then
  for b in ${PROFILE_BATCHES:-8}; do
    timeout 300 ncu --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
      build/bin/xlstm bench --config "$cfg" --device cuda --prompt-len 2048 --gen 0 --batch $b \
      --reps 1 > /tmp/ncu_prefill_b$b.csv 2>/dev/null
    echo "## ncu kernel sums, prefill B=$b S=2048" | tee -a "$log"
    python3 bench/ncu_summary.py /tmp/ncu_prefill_b$b.csv \
      --skip 'fill_(normal|value)_kernel|scale_columns_kernel' --per 1 | head -25 | tee -a "$log"
  done
fi
# DETAIL_KERNEL=regex: ncu's detail sections for one launch of that kernel in the B=8 prefill.
if [ -n "${DETAIL_KERNEL:-}" ]; then
  timeout 300 ncu --cache-control none --clock-control none -k "regex:$DETAIL_KERNEL" \
    --launch-skip 2 --launch-count 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
    --section ComputeWorkloadAnalysis --section Occupancy --section WarpStateStats \
    --section SchedulerStats --section LaunchStats build/bin/xlstm bench --config "$cfg" \
    --device cuda --prompt-len 2048 --gen 0 --batch 8 --reps 1 > "$OUT/ncu_detail.txt" 2>&1
fi
if [ "${SLSTM_DETAIL:-0}" = 1 ]; then
  for b in 1 8; do
    timeout 200 ncu --cache-control none --clock-control none -k regex:slstm_kernel \
      --launch-count 1 --section SpeedOfLight --section Occupancy --section WarpStateStats \
      --section LaunchStats --section SourceCounters build/bin/slstm_recurrence_bench --heads 4 \
      --head-dim 512 --batch $b --steps 512 --bf16 > "$OUT/ncu_slstm_b$b.txt" 2>&1
  done
fi
