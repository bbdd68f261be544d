#!/usr/bin/env bash
# Where a family stack's GPU time goes, beyond the per-kernel sums of scripts/cuda_profile.sh:
# ncu's detail sections (bandwidth, occupancy, stall reasons) for the decode step's main kernels,
# an nsys timeline of decode steps replayed from graphs (real gaps between kernels), and the
# per-kernel sums of a B=8 prefill. On the GPU machine, from a bundle made here:
#   scripts/cuda_remote_tests.sh exec scripts/debug/family_probe.sh   (logs: $OUT)
# CONFIG=... another stack (default: the 1.3B 7:1 benchmark shape); KERNELS=... an ncu regex.
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
cfg=${CONFIG:-bench/configs/xlstm-1.3b-7to1.json}
bench=(build/bin/xlstm bench --config "$cfg" --device cuda)
echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)" |
  tee "$OUT/probe.log"
command -v ncu nsys | tee -a "$OUT/probe.log"
if [ "${DETAIL:-1}" = 1 ]; then
  timeout 240 ncu --cache-control none --clock-control none \
    -k "regex:${KERNELS:-step_.*kernel|gemv_kernel|group_layer_norm|small_linear|mlstm_v1_qkv}" \
    --launch-skip "${SKIP:-200}" --launch-count "${COUNT:-8}" \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section MemoryWorkloadAnalysis "${bench[@]}" --prompt-len 1 --gen 3 --batch 1 \
    > "$OUT/ncu_detail.txt" 2>&1
fi
if [ "${TIMELINE:-1}" = 1 ] && command -v nsys >/dev/null; then
  timeout 240 nsys profile --cuda-graph-trace=node --force-overwrite true -o /tmp/family_decode \
    "${bench[@]}" --prompt-len 16 --gen 16 --batch "${TIMELINE_BATCH:-1}" > /tmp/nsys.out 2>&1 ||
    tail -5 /tmp/nsys.out
  nsys stats -r cuda_gpu_trace -f csv -o /tmp/family_decode /tmp/family_decode.nsys-rep \
    > /dev/null 2>&1
  # The last 2,000 kernels (decode steps).
  f=$(ls /tmp/family_decode*cuda_gpu_trace*.csv 2>/dev/null | head -1)
  [ -n "$f" ] && { head -1 "$f"; tail -2000 "$f"; } > "$OUT/decode_timeline.csv"
fi
if [ "${PREFILL:-1}" = 1 ]; then
  timeout 300 ncu --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
    "${bench[@]}" --prompt-len 2048 --gen 0 --batch 8 --reps 1 > /tmp/ncu_prefill_b8.csv 2>/dev/null
  echo "## prefill B=8 S=2048: ${bench[*]}" >> "$OUT/probe.log"
  python3 bench/ncu_summary.py /tmp/ncu_prefill_b8.csv \
    --skip 'fill_(normal|value)_kernel|scale_columns_kernel' --per 1 | head -25 >> "$OUT/probe.log"
fi
cat "$OUT/probe.log"
