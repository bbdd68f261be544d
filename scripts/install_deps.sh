#!/usr/bin/env bash
# Installs the Debian build dependencies (idempotent: apt-get skips what is present).
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  nlohmann-json3-dev libcli11-dev libopenblas-openmp-dev libpcre2-dev libutf8proc-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-dev libomp-dev  # scripts/fuzz.sh: libFuzzer and sanitizer runtimes, OpenMP
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
echo "build dependencies present"
