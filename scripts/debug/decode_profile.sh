#!/usr/bin/env bash
# Where a decode step's time and device-memory traffic go, per kernel (GPU machine, binaries from
# scripts/cuda_remote_tests.sh pack): ncu's duration and DRAM bytes read and written of every
# kernel of a few decode steps, summed by kernel with each one's rate (bench/ncu_summary.py).
# Caches are not flushed and clocks not locked between kernels (as in a real step); ncu still
# serialises the kernels, so the sum exceeds the step's wall time where kernels overlap (PDL).
#   scripts/cuda_remote_tests.sh exec scripts/debug/decode_profile.sh   (log: $OUT/decode_profile.log)
# CONFIG=... another stack; BATCH=1; STEPS=3 (after a 1-token prompt; per-step figures).
. "$(dirname "$0")/start_log.sh"
cfg=${CONFIG:-bench/configs/xlstm-1.3b-7to1.json}
b=${BATCH:-1}
steps=${STEPS:-3}
start_log decode_profile
echo "## $cfg decode B=$b: $steps steps after a 1-token prompt, per step" | tee -a "$log"
timeout 300 ncu --csv --cache-control none --clock-control none \
  --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
  build/bin/xlstm bench --config "$cfg" --device cuda --prompt-len 1 --gen "$steps" --batch "$b" \
  --reps 1 > /tmp/ncu_decode.csv 2>/dev/null
# One prompt call and `steps` decode calls; --per makes the figures per call (the 1-token
# prompt's call is one of them, the same kernels as a step but eager).
python3 bench/ncu_summary.py /tmp/ncu_decode.csv --skip 'fill_(normal|value)_kernel|scale_columns_kernel' \
  --per $((1 + steps)) | head -30 | tee -a "$log"
