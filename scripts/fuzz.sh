#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan+UBSan, into build-fuzz/) if needed and runs each
# for SECONDS (default 60), one at a time in one process, on a working copy of its seed corpus
# (fuzz/corpus/<target>, kept small in git; the working corpus grows and is kept between runs).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     TARGET: safetensors, state, npy, ... (default: all)
#
# Environment: FUZZ_BUILD_DIR (build-fuzz), FUZZ_WORK (build-fuzz/work: working corpora),
# FUZZ_ARTIFACTS (build-fuzz/artifacts: inputs that crashed, leaked or timed out, and each
# target's log), FUZZ_TIMEOUT (10: seconds one input may take).
# Prints per target the executions, the time and the findings; exits 1 if any target found one.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
all=(safetensors safetensors_index config family_config tokenizer_json tokenizer_roundtrip npy state server_request)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
build=${FUZZ_BUILD_DIR:-build-fuzz}
work=${FUZZ_WORK:-$build/work}
artifacts=${FUZZ_ARTIFACTS:-$build/artifacts}

./scripts/install_deps.sh >/dev/null
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXLSTM_FUZZ=ON \
    -DXLSTM_CUDA=OFF -DXLSTM_BUILD_TESTS=OFF >/dev/null
fi
nice -n 10 cmake --build "$build" -j"$(nproc)" --target fuzz_all >/dev/null
mkdir -p "$work" "$artifacts"
artifacts=$(cd "$artifacts" && pwd)

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
printf '%-20s %12s %8s %9s %8s  %s\n' target executions seconds exec/s corpus findings
failed=0
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "unknown target '$t' (known: ${all[*]})" >&2; exit 2; }
  corpus="$work/$t"
  mkdir -p "$corpus"
  for seed in fuzz/corpus/"$t"/*; do
    [ -e "$corpus/$(basename "$seed")" ] || cp "$seed" "$corpus/"
  done
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
  log="$artifacts/$t.log"
  before=$(find "$artifacts" -name "$t-*" | wc -l)
  start=$SECONDS
  status=0
  "$bin" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "${dict[@]}" "$corpus" >"$log" 2>&1 ||
    status=$?
  took=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  found=$(($(find "$artifacts" -name "$t-*" | wc -l) - before))
  if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
    failed=1
    what="$found new in $artifacts (exit $status; log $log)"
    grep -m3 -E 'FUZZ FINDING|ERROR: |runtime error|SUMMARY|uncaught exception' "$log" | sed 's/^/    /' || true
  else
    what=none
  fi
  printf '%-20s %12s %8s %9s %8s  %s\n' "$t" "${execs:-?}" "$took" "${rate:-?}" \
    "$(find "$corpus" -type f | wc -l)" "$what"
done
exit $failed
