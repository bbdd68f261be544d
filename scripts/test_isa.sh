#!/usr/bin/env bash
# The test suite under several instruction sets, each a CPU-only build of its own in
# build-isa-<level>: every x86-64 level this CPU runs (x86-64-v2: SSE4.2, x86-64-v3: AVX2+FMA,
# x86-64-v4: AVX-512) compiled for exactly that level (no runtime dispatch), and `portable`, the
# packaging build (XLSTM_NATIVE=OFF: x86-64-v2 baseline, hot kernels picked per CPU at run time);
# then the native build in ./build. OpenBLAS picks its kernels at run time; tests/CMakeLists.txt
# reruns the numeric tests under other OpenBLAS core types as well.
# Usage: scripts/test_isa.sh [LEVEL ...]   (LEVEL: x86-64-v2|v3|v4, portable; none given: all + native)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh >/dev/null
levels=("$@")
native=0
if [ ${#levels[@]} -eq 0 ]; then
  levels=(x86-64-v2 x86-64-v3)
  grep -qw avx512f /proc/cpuinfo && levels+=(x86-64-v4)
  levels+=(portable)
  native=1
fi
for level in "${levels[@]}"; do
  echo "== ${level}"
  if [ "$level" = portable ]; then
    flags=(-DXLSTM_NATIVE=OFF)
  else
    flags=(-DXLSTM_NATIVE=OFF -DXLSTM_DISPATCH=OFF -DCMAKE_CXX_FLAGS="-march=${level}")
  fi
  cmake -S . -B "build-isa-${level}" -DCMAKE_BUILD_TYPE=Release -DXLSTM_CUDA=OFF "${flags[@]}" >/dev/null
  cmake --build "build-isa-${level}" -j"$(nproc)"
  ctest --test-dir "build-isa-${level}" --output-on-failure -j"$(nproc)"
done
if [ "$native" = 1 ]; then
  echo "== native"
  ./scripts/build.sh
  ctest --test-dir build --output-on-failure -j"$(nproc)"
fi
