#!/usr/bin/env bash
# The test suite under several instruction sets: each x86-64 level this CPU runs (v2: SSE4.2,
# v3: AVX2+FMA, v4: AVX-512) as its own CPU-only build in build-isa-<level>, plus the native build
# in ./build. OpenBLAS picks its kernels at run time; tests/CMakeLists.txt reruns the numeric
# tests under other OpenBLAS core types as well. Usage: scripts/test_isa.sh [LEVEL ...]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh >/dev/null
levels=("$@")
if [ ${#levels[@]} -eq 0 ]; then
  levels=(x86-64-v2 x86-64-v3)
  grep -qw avx512f /proc/cpuinfo && levels+=(x86-64-v4)
fi
for level in "${levels[@]}"; do
  echo "== -march=${level}"
  cmake -S . -B "build-isa-${level}" -DCMAKE_BUILD_TYPE=Release -DXLSTM_NATIVE=OFF -DXLSTM_CUDA=OFF \
    -DCMAKE_CXX_FLAGS="-march=${level}" >/dev/null
  cmake --build "build-isa-${level}" -j"$(nproc)"
  ctest --test-dir "build-isa-${level}" --output-on-failure -j"$(nproc)"
done
echo "== native"
./scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
