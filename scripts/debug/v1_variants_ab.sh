#!/usr/bin/env bash
# The persistent v1 decode of this build against variant builds packed beside it
# (XLSTM_VARIANTS at pack time: build/bin/xlstm_<name>) and against this build under other
# run-time settings (ENVS: space-separated runs, each a comma-separated list of VAR=value; by
# default XLSTM_PD_V1_PREFETCH=on; ENVS="" for none): the v1 and family GPU tests (and a
# variant's own test_cuda_v1_decode where packed; EXTRA_TESTS="test_cuda_model ...": more of
# this build's suites), a phase trace of each run, then decode B=1 tok/s of the 1.3B 7:1 and 1:0
# stacks, interleaved, two rounds (ROUNDS="1" for one; CONFIGS="xlstm-1.3b-7to1" for fewer stacks;
# TESTS=0 to skip the tests when only timing binaries already tested; TRACES=0 to skip the phase
# traces). From a bundle:
#   scripts/cuda_remote_tests.sh exec scripts/debug/v1_variants_ab.sh   (log: $OUT/v1_variants_ab.log)
. "$(dirname "$0")/start_log.sh"
start_log v1_variants_ab
if [ "${TESTS:-1}" = 1 ]; then
timeout 200 build/tests/test_cuda_v1_decode 2>&1 | grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]" | tee -a "$log"
timeout 150 build/tests/test_cuda_family 2>&1 | grep -E "PASSED|FAILED  \]" | tee -a "$log"
for t in ${EXTRA_TESTS:-}; do
  echo "## $t" | tee -a "$log"
  timeout 300 "build/tests/$t" 2>&1 | grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]" | tee -a "$log"
done
for t in build/tests/test_cuda_v1_decode_*; do  # the variants' own (cuda_remote_tests.sh pack)
  [ -x "$t" ] || continue
  echo "## $(basename "$t")" | tee -a "$log"
  timeout 200 "$t" 2>&1 | grep -E "PASSED|FAILED|Failure|SKIPPED \] [0-9]" | tee -a "$log"
done
fi
# Runs as binary|settings: this build as it is and under each ENVS entry, every variant as is.
runs="xlstm|"
for e in ${ENVS-XLSTM_PD_V1_PREFETCH=on}; do runs="$runs xlstm|$e"; done
for bin in build/bin/xlstm_*; do
  [ -x "$bin" ] && runs="$runs $(basename "$bin")|"
done
run_bench() {  # binary, settings, then the bench arguments
  local bin=$1 settings=$2
  shift 2
  # shellcheck disable=SC2046
  env $(tr ',' ' ' <<<"$settings") timeout 120 "build/bin/$bin" bench "$@"
}
for run in $runs; do
  [ "${TRACES:-1}" = 1 ] || break
  bin=${run%%|*} settings=${run#*|} trace=/tmp/v1_variants_trace.bin
  rm -f "$trace"
  XLSTM_GRAPHS=off XLSTM_PD_TRACE=$trace run_bench "$bin" "$settings" \
    --config bench/configs/xlstm-1.3b-7to1.json --device cuda --prompt-len 16 --gen 8 \
    --batch 1 --reps 1 2>&1 | grep -iE "error|unsupported" | tail -3 | tee -a "$log"
  echo "## trace, $bin, ${settings:-as built}" | tee -a "$log"
  python3 scripts/debug/v1_trace_summary.py "$trace" --skip 7 --detail 0 2>&1 | tee -a "$log"
done
for round in ${ROUNDS:-1 2}; do
  for cfg in ${CONFIGS:-xlstm-1.3b-7to1 xlstm-1.3b-1to0}; do
    for run in $runs; do
      bin=${run%%|*} settings=${run#*|}
      echo "### $cfg, $bin, ${settings:-as built}, decode B=1" | tee -a "$log"
      run_bench "$bin" "$settings" --config "bench/configs/$cfg.json" --device cuda \
        --prompt-len 2048 --gen 128 --batch 1 --reps 2 2>&1 | tail -1 | tee -a "$log"
    done
  done
done
