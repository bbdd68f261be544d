#!/usr/bin/env bash
# The persistent mLSTM v1 decode (XLSTM_FAMILY_PERSISTENT=on, the default) against the per-kernel
# decode (=off) on the GPU machine, interleaved in one call: its tests first (with a timeout: a
# dependency bug in the kernel traps after 10 s rather than hanging), then decode B=1 tok/s of the 1.3B stacks and the
# all-sLSTM stack with the variable off and on, and with build/bin/xlstm_before where the bundle
# has it (XLSTM_BEFORE at pack time: the sLSTM decode changes show there), then (PROFILE=1) ncu's
# per-kernel sums of one fused decode step. From a bundle made here:
#   scripts/cuda_remote_tests.sh exec scripts/debug/v1_decode_ab.sh     (log: $OUT/v1_decode_ab.log)
# CONFIGS="..." other stacks; ROUNDS="1 2"; GEN=128 tokens after a 2048-token prompt.
. "$(dirname "$0")/start_log.sh"
start_log v1_decode_ab
timeout 300 build/tests/test_cuda_v1_decode 2>&1 | grep -E "^\[  |Failure|Expected|Which|actual" |
  tail -40 | tee -a "$log"
configs=${CONFIGS:-bench/configs/xlstm-1.3b-7to1.json bench/configs/xlstm-1.3b-1to0.json \
  bench/configs/slstm-24x1024.json}
bench() {  # bench BINARY PERSISTENT CONFIG
  echo "### $1, XLSTM_FAMILY_PERSISTENT=$2: $3 decode B=1" | tee -a "$log"
  XLSTM_FAMILY_PERSISTENT=$2 timeout 120 "build/bin/$1" bench --config "$3" --device cuda \
    --prompt-len 2048 --gen "${GEN:-128}" --batch 1 --reps 2 2>&1 | tail -1 | tee -a "$log"
}
for round in ${ROUNDS:-1 2}; do
  echo "## round $round" | tee -a "$log"
  for cfg in $configs; do
    [ -x build/bin/xlstm_before ] && bench xlstm_before off "$cfg"
    bench xlstm off "$cfg"
    case $cfg in *slstm-*) ;; *) bench xlstm on "$cfg" ;; esac
  done
done
if [ "${PROFILE:-1}" = 1 ]; then
  cfg=${configs%% *}
  XLSTM_FAMILY_PERSISTENT=on timeout 300 ncu --csv --cache-control none --clock-control none \
    --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
    build/bin/xlstm bench --config "$cfg" --device cuda \
    --prompt-len 1 --gen 3 --batch 1 --reps 1 > /tmp/ncu_v1_decode.csv 2>/dev/null
  echo "## ncu per-kernel sums of a fused decode step (per call of 4)" | tee -a "$log"
  python3 bench/ncu_summary.py /tmp/ncu_v1_decode.csv \
    --skip 'fill_(normal|value)_kernel|scale_columns_kernel' --per 4 | head -25 | tee -a "$log"
fi
