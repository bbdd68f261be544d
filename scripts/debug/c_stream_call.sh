#!/usr/bin/env bash
# One device call for the v1 decode with the cell's C streamed through the weight ring
# (XLSTM_PD_V1_C_STREAM=on): first its bitwise tests alone under a short limit (a box whose bytes
# the barrier does not expect would hang the kernel, not fail it), then, if they pass,
# v1_variants_ab.sh: all v1 and family tests, phase traces and decode B=1 of the 1.3B 7:1 stack
# against the build as it is and a packed main build (xlstm_head). Bundle:
#   XLSTM_VARIANTS=/work/build-head/bin/xlstm scripts/cuda_remote_tests.sh pack
#   scripts/cuda_remote_tests.sh exec scripts/debug/c_stream_call.sh
#   (logs: $OUT/c_stream.log, $OUT/v1_variants_ab.log)
. "$(dirname "$0")/start_log.sh"
start_log c_stream
timeout 120 build/tests/test_cuda_v1_decode --gtest_filter='*StreamedC*:*EverySetting*' 2>&1 |
  grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]|error" | tee -a "$log"
rc=${PIPESTATUS[0]}
echo "# rc=$rc" | tee -a "$log"
[ "$rc" = 0 ] || exit 1
ENVS="${ENVS-XLSTM_PD_V1_C_STREAM=on XLSTM_PD_V1_C_STREAM=on,XLSTM_PD_V1_C_PREFETCH=none}" \
  CONFIGS="${CONFIGS-xlstm-1.3b-7to1}" exec "$(dirname "$0")/v1_variants_ab.sh"
