# Sourced by the GPU debug scripts (not run): `start_log NAME [WORDS...]` makes $OUT (default
# ./out) and starts log=$OUT/NAME.log with the date, the GPU and its driver, and WORDS.
set -uo pipefail
OUT=${OUT:-$PWD/out}
start_log() {
  mkdir -p "$OUT"
  log=$OUT/$1.log
  shift
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) $*" |
    tee "$log"
}
# `family_checks`: the sLSTM/headwise op cases and test_cuda_family with either sLSTM decode step
# (XLSTM_SLSTM_STEP=projected|split) into $log, before a call's measurements.
family_checks() {
  echo "## test_cuda_ops (sLSTM and headwise cases)" | tee -a "$log"
  timeout 120 build/tests/test_cuda_ops --gtest_filter='*slstm*:*headwise*' 2>&1 |
    grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]" | tee -a "$log"
  for mode in projected split; do
    echo "## test_cuda_family, XLSTM_SLSTM_STEP=$mode" | tee -a "$log"
    XLSTM_SLSTM_STEP=$mode timeout 240 build/tests/test_cuda_family 2>&1 |
      grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]" | tee -a "$log"
  done
}
