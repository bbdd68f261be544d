#!/usr/bin/env bash
# One device call: the sLSTM step kernels (split and projected, one template since session 19)
# checked bitwise and in the family tests, then the v1 decode kernel's weight-ring depths swept at
# run time on this GPU (the defaults were chosen on an H100; an H200's HBM3e has more bandwidth
# behind about the same latency, so it may want more bytes in flight). Bundle: this build
# (scripts/cuda_remote_tests.sh pack):
#   scripts/cuda_remote_tests.sh exec scripts/debug/ring_depth_call.sh   (log: $OUT/ring_depth.log)
. "$(dirname "$0")/start_log.sh"
start_log ring_depth
family_checks
echo "## test_cuda_v1_decode" | tee -a "$log"
timeout 240 build/tests/test_cuda_v1_decode 2>&1 | grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]" |
  tee -a "$log"
bench() {  # settings (comma-separated, or -), then the bench arguments
  local settings=$1
  shift
  # shellcheck disable=SC2046
  env $(tr ',' ' ' <<<"${settings#-}") timeout 120 build/bin/xlstm bench "$@" 2>&1 | tail -1 |
    tee -a "$log"
}
v13=(--config bench/configs/xlstm-1.3b-7to1.json --device cuda --prompt-len 2048 --gen 128
  --batch 1 --reps 1)
for round in 1 2; do
  for settings in - ${SETTINGS:-XLSTM_PD_INFLIGHT=3 XLSTM_PD_INFLIGHT=4 XLSTM_PD_INFLIGHT=6 \
    XLSTM_PD_PREFETCH=12 XLSTM_PD_PREFETCH=24 XLSTM_PD_INFLIGHT=4,XLSTM_PD_PREFETCH=12}; do
    echo "### round $round, 1.3B 7:1 decode B=1, settings: $settings" | tee -a "$log"
    bench "$settings" "${v13[@]}"
  done
  [ "${ROUNDS:-1}" -ge 2 ] || break
done
for mode in split projected; do
  echo "### all-sLSTM 24x1024, decode B=1, XLSTM_SLSTM_STEP=$mode" | tee -a "$log"
  bench XLSTM_SLSTM_STEP=$mode --config bench/configs/slstm-24x1024.json --device cuda \
    --prompt-len 512 --gen 128 --batch 1 --reps 2
done
