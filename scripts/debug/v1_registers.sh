#!/usr/bin/env bash
# Registers and spills of the persistent v1 decode kernel's two instances (ptxas -v), with the
# build's flags (./build configured) plus any extra arguments, e.g. -DXLSTM_PD_V1_LOADS=8. No GPU
# needed; the kernel must stay within 168 per thread (see decode_persistent_v1.cu) or it cannot
# launch.
set -euo pipefail
cd "$(dirname "$0")/../../build/src"
flags=$(grep CUDA_FLAGS CMakeFiles/xlstm.dir/flags.make | cut -d= -f2-)
defines=$(grep CUDA_DEFINES CMakeFiles/xlstm.dir/flags.make | cut -d= -f2-)
# shellcheck disable=SC2086
nvcc $defines --options-file CMakeFiles/xlstm.dir/includes_CUDA.rsp $flags "$@" -Xptxas -v \
  -c "${FILE:-../../src/backend/cuda/decode_persistent_v1.cu}" -o /tmp/v1_registers.o 2>&1 |
  grep -A3 "Compiling entry.*sm_90" |
  sed -E 's/.*v1_decode_kernelILb0E.*/v1_decode_kernel<false> (C loaded):/;
          s/.*v1_decode_kernelILb1E.*/v1_decode_kernel<true> (C streamed):/' |
  grep -E "v1_decode_kernel<|Used|spill" | uniq || true
