#!/usr/bin/env bash
# One device call for the v1 decode with the cell's C streamed through the weight ring
# (XLSTM_PD_V1_C_STREAM=on): test_cuda_v1_decode first under its own limit (a box whose bytes
# the barrier does not expect would hang the kernel, not fail it; the streamed cases compare
# bitwise with the threads' loads), the family tests, then v1_variants_ab.sh without its tests:
# phase traces and decode B=1 of the 1.3B 7:1 stack, this build as it is (C streamed, the default
# since session 19), with C loaded, and a packed earlier build (xlstm_head). Bundle:
#   XLSTM_VARIANTS=/work/build-head/bin/xlstm scripts/cuda_remote_tests.sh pack
#   scripts/cuda_remote_tests.sh exec scripts/debug/c_stream_call.sh
#   (logs: $OUT/c_stream.log, $OUT/v1_variants_ab.log)
. "$(dirname "$0")/start_log.sh"
start_log c_stream
timeout 240 build/tests/test_cuda_v1_decode 2>&1 |
  grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]|error" | tee -a "$log"
rc=${PIPESTATUS[0]}
echo "# test_cuda_v1_decode rc=$rc" | tee -a "$log"
[ "$rc" = 0 ] || exit 1
timeout 150 build/tests/test_cuda_family 2>&1 | grep -E "PASSED|FAILED" | tee -a "$log"
TESTS=0 ENVS="${ENVS-XLSTM_PD_V1_C_STREAM=off}" CONFIGS="${CONFIGS-xlstm-1.3b-7to1}" \
  exec "$(dirname "$0")/v1_variants_ab.sh"
