#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer build of everything, then the whole test suite.
# RelWithDebInfo keeps the Release arithmetic (FMA contraction), so the numeric tolerances hold.
# Extra arguments go to CMake, e.g. ./scripts/sanitize.sh -DXLSTM_CUDA=OFF (as CI runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh >/dev/null
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXLSTM_SANITIZE=ON "$@" >/dev/null
cmake --build build-asan -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$(nproc)"
