#!/usr/bin/env bash
# Installs the Debian dependencies (if missing), configures and builds into ./build.
# Extra arguments go to CMake, e.g. ./scripts/build.sh -DXLSTM_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
