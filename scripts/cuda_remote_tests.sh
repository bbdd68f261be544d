#!/usr/bin/env bash
# The CUDA tests (and a quick 7B-shape bench) on a machine with a GPU but without this project's
# Debian build dependencies, from binaries built here.
#   scripts/cuda_remote_tests.sh pack   # here: .cuda_run/ with the test binaries, the CLI and the
#                                       # non-CUDA shared libraries they need (xz-compressed)
#   scripts/cuda_remote_tests.sh run    # there, from the repository root: runs everything, logs to
#                                       # $OUT (or ./out) as cuda_tests.log and cuda_bench.log
#   scripts/cuda_remote_tests.sh exec CMD...  # there: unpacks, then runs CMD with the libraries found
#   scripts/cuda_remote_tests.sh cpu         # there: every test executable of the CPU-only trees
#                                            # packed with XLSTM_CPU_TREES (logs cpu_suite_*.log)
# XLSTM_CPU_TREES="build-isa-x86-64-v4 build-isa-portable" at pack time also carries those
# trees' test executables and CLI: the suite on the GPU host's CPU (an Intel Xeon with AVX-512;
# configure a -march=x86-64-v4 tree here with
# -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST, since this CPU cannot list its tests).
# The binaries have this checkout's absolute paths compiled in (fixtures, CLI): `run` links them
# to the copy it runs in. CUDA's own libraries (cudart, cuBLASLt 13) come from the machine.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
if [ "$mode" = pack ]; then
  set -e
  rm -rf .cuda_run && mkdir -p .cuda_run/stage/lib .cuda_run/stage/bin
  cp build/tests/test_cuda_ops build/tests/test_cuda_model build/tests/test_cuda_family \
     build/tests/test_cuda_v1_decode \
     build/tests/test_family_parity build/tests/test_mlstm_cell build/tests/test_mlstm_cell_reference \
     build/tests/test_model_parity build/tests/test_state_sequences build/bin/xlstm build/bin/slstm_recurrence_bench \
     .cuda_run/stage/bin/
  # The server tests (XLSTM_TEST_DEVICE=cuda runs their servers on the GPU).
  for t in test_server_api test_server_cache test_server_load test_server_units; do
    if [ -x build/tests/$t ]; then cp build/tests/$t .cuda_run/stage/bin/; fi
  done
  # XLSTM_BEFORE=path/to/xlstm: another build of the CLI, for before/after benchmarks.
  if [ -n "${XLSTM_BEFORE:-}" ]; then cp "$XLSTM_BEFORE" .cuda_run/stage/bin/xlstm_before; fi
  # XLSTM_VARIANTS="build-x/bin/xlstm ...": variant builds, as xlstm_x (the tree's name less
  # "build-"), for trying compile-time settings or branches side by side; with the tree's
  # test_cuda_v1_decode where it has one (as test_cuda_v1_decode_x).
  for v in ${XLSTM_VARIANTS:-}; do
    root=$(dirname "$(dirname "$v")") && tree=$(basename "$root")
    cp "$v" ".cuda_run/stage/bin/xlstm_${tree#build-}"
    if [ -x "$root/tests/test_cuda_v1_decode" ]; then
      cp "$root/tests/test_cuda_v1_decode" ".cuda_run/stage/bin/test_cuda_v1_decode_${tree#build-}"
    fi
  done
  strip .cuda_run/stage/bin/*
  for tree in ${XLSTM_CPU_TREES:-}; do
    mkdir -p ".cuda_run/stage/trees/$tree/tests" ".cuda_run/stage/trees/$tree/bin"
    find "$tree/tests" -maxdepth 1 -type f -name 'test_*' -perm -u+x \
      -exec cp {} ".cuda_run/stage/trees/$tree/tests/" \;
    cp "$tree/bin/xlstm" ".cuda_run/stage/trees/$tree/bin/"
    strip ".cuda_run/stage/trees/$tree"/*/*
  done
  # Every shared library the CLI links but the system's C/C++ runtime and CUDA's own.
  ldd build/bin/xlstm | awk '$3 ~ /^\// {print $1, $3}' |
    grep -vE '^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^ ]*)\.so|^libcu' |
    while read -r _ path; do cp -L "$path" .cuda_run/stage/lib/; done
  pwd -P > .cuda_run/stage/built_in
  tar -C .cuda_run/stage -cJf .cuda_run/bundle.tar.xz . && rm -rf .cuda_run/stage
  exclude=$(git rev-parse --git-path info/exclude)
  mkdir -p "$(dirname "$exclude")" && touch "$exclude"
  grep -qx '/.cuda_run/' "$exclude" || echo '/.cuda_run/' >> "$exclude"
  ls -la .cuda_run
  exit 0
fi
case "$mode" in run|exec|cpu) ;; *) echo "usage: $0 pack|run|exec CMD...|cpu" >&2; exit 2 ;; esac
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT" /tmp/xlstm_run
tar -C /tmp/xlstm_run -xJf .cuda_run/bundle.tar.xz
built_in=$(cat /tmp/xlstm_run/built_in)
if [ "$(readlink -f "$built_in" 2>/dev/null)" != "$(pwd -P)" ]; then
  mkdir -p "$(dirname "$built_in")" && ln -sfn "$(pwd -P)" "$built_in"
fi
mkdir -p build/bin build/tests
cp /tmp/xlstm_run/bin/test_* build/tests/
for f in /tmp/xlstm_run/bin/*; do case $(basename "$f") in test_*) ;; *) cp "$f" build/bin/ ;; esac; done
[ -d /tmp/xlstm_run/trees ] && cp -r /tmp/xlstm_run/trees/. .
cudalibs=$(dirname "$(find /usr/local /opt /usr/lib -name 'libcublasLt.so.13*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH=/tmp/xlstm_run/lib:$cudalibs:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
if [ "$mode" = cpu ]; then
  # Each tree's executables one by one (what ctest runs, without the OpenBLAS core-type reruns,
  # the install test and the Python client test, which need tools this machine lacks).
  status=0
  [ -d /tmp/xlstm_run/trees ] || { echo "no CPU trees in the bundle (pack with XLSTM_CPU_TREES)" >&2; exit 2; }
  for tree in /tmp/xlstm_run/trees/*/; do
    tree=$(basename "$tree")
    log=$OUT/cpu_suite_$tree.log
    echo "# $(date -u +%FT%TZ) $tree on $(grep -m1 'model name' /proc/cpuinfo)" | tee "$log"
    grep -qw avx512f /proc/cpuinfo && echo "# avx512f: yes" | tee -a "$log"
    "$tree/bin/xlstm" bench --help >/dev/null 2>&1 || true
    for t in "$tree"/tests/test_*; do
      case $(basename "$t") in test_cuda_*) continue ;; esac
      timeout 900 "$t" > "$OUT/$(basename "$t").$tree.out" 2>&1
      rc=$?
      printf '%-36s rc=%d %s\n' "$(basename "$t")" "$rc" \
        "$(grep -E '^\[  (PASSED|FAILED)  \]|tests? ran' "$OUT/$(basename "$t").$tree.out" | tr '\n' ' ')" |
        tee -a "$log"
      [ $rc -eq 0 ] || status=1
    done
  done
  exit $status
fi
if [ "$mode" = exec ]; then
  shift
  "$@"
  exit $?
fi
log=$OUT/cuda_tests.log
{
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
  echo "# cuBLASLt from $cudalibs; repository at $(pwd -P) (binaries built in $built_in)"
  ldd build/tests/test_cuda_ops | grep -E "not found|cublas|cudart"
} > "$log"
# One process per group: a fault in one kernel cannot hide the others' results.
for f in 'Table/*rms_norm*' 'Table/*soft_cap*' 'Table/*multihead*' 'Table/*swiglu*' \
         'Table/*linear*' 'Table/*embedding*:Table/*convert*' 'Table/*mlstm_step*' \
         'Table/*mlstm_chunkwise*' 'Table/*slstm*' 'Table/*sample*' 'CudaBackend*' \
         'Table/*causal_conv*:Table/*v1_conv_qkv*:Table/*headwise*'; do
  timeout 300 build/tests/test_cuda_ops --gtest_filter="$f" 2>&1 | tee -a "$log" | tail -3
done
for f in 'Fixtures/*Float32*' 'Fixtures/*Bf16*' 'Fixtures/*Prefill*' 'CudaState*' 'CudaGraphs*' \
         'CudaGenerate*' 'CudaModel*:CudaCli*:CudaBackend*:Heads/*:Shapes/*'; do
  timeout 300 build/tests/test_cuda_model --gtest_filter="$f" 2>&1 | tee -a "$log" | tail -3
done
# The original family (mLSTM v1 / sLSTM) on the GPU, and its CPU parity on this machine's CPU.
for f in 'Family/*' 'Shapes/*' 'CudaFamilyGraphs*:CudaFamilyGenerate*'; do
  timeout 300 build/tests/test_cuda_family --gtest_filter="$f" 2>&1 | tee -a "$log" | tail -3
done
# The persistent decode of mLSTM v1 runs against the per-kernel decode (sm_90).
timeout 300 build/tests/test_cuda_v1_decode 2>&1 | tee -a "$log" | tail -3
timeout 120 build/tests/test_family_parity 2>&1 | tee -a "$log" | tail -3
# Row prefixes and one-sequence copies on the device (what the server rests on).
timeout 300 build/tests/test_state_sequences 2>&1 | tee -a "$log" | tail -3
# The CPU numeric tests on this machine's CPU too (another vendor, other vector widths).
for t in test_mlstm_cell test_mlstm_cell_reference test_model_parity; do
  timeout 300 build/tests/$t 2>&1 | tee -a "$log" | tail -3
done
grep -E "^\[  (PASSED|FAILED) |tests? ran|^\[  FAILED  \]" "$log" | sort | uniq -c > "$OUT/cuda_tests_summary.txt"
cat "$OUT/cuda_tests_summary.txt"
if [ "${XLSTM_BENCH:-1}" = 1 ]; then
  # Random bf16 weights of the 7B shape, drawn on the GPU.
  for args in "--prompt-len 2048 --gen 128 --batch 1 --reps 2" \
              "--prompt-len 8192 --gen 32 --batch 1,8"; do
    echo "\$ xlstm bench --config tests/fixtures/configs/xlstm-7b.json --device cuda $args"
    timeout 300 build/bin/xlstm bench --config tests/fixtures/configs/xlstm-7b.json --device cuda \
      $args 2>&1
  done | tee "$OUT/cuda_bench.log"
fi
# Memory errors in a few small cases of each kernel family (compute-sanitizer, if present).
if command -v compute-sanitizer >/dev/null && [ "${XLSTM_SANITIZE:-1}" = 1 ]; then
  timeout 240 compute-sanitizer --tool memcheck build/tests/test_cuda_ops \
    --gtest_filter='Table/*mlstm_chunkwise_2_3_7_*:Table/*mlstm_chunkwise_3_2_7_64_128_64_bf16*:Table/*mlstm_chunkwise_1_1_77_192_64_13_bf16*:Table/*mlstm_chunkwise_3_2_7_512_128_64_1_bf16*:Table/*mlstm_chunkwise_1_1_100_*:Table/*mlstm_step_2_3_5_*:Table/*sample_3_777_5_1*:Table/*rms_norm_3_257*:Table/*multihead_norm_gate_3_3_37*:Table/*swiglu_3_37*:Table/*linear_fallback_3*:Table/*linear_gemv_3_100_*:Table/*linear_gemv_5_1048_*:Table/*embedding_100*' \
    > "$OUT/cuda_sanitizer.log" 2>&1
  # A whole bf16 model on both cell paths (tensor cores; float32 with 3 heads), workspace included.
  timeout 240 compute-sanitizer --tool memcheck build/tests/test_cuda_model --gtest_filter='Heads/*:Shapes/*4x128*' \
    >> "$OUT/cuda_sanitizer.log" 2>&1
  # Decode's sLSTM kernels (headwise GEMV, fused inputs, one-step recurrence).
  timeout 240 compute-sanitizer --tool memcheck build/tests/test_cuda_ops \
    --gtest_filter='Table/*headwise*:Table/*slstm_step_inputs*:Table/*slstm_recurrence_*_1_1_bf16' \
    >> "$OUT/cuda_sanitizer.log" 2>&1
  # The persistent v1 decode (a narrow and a wide head shape).
  timeout 240 compute-sanitizer --tool memcheck build/tests/test_cuda_v1_decode \
    --gtest_filter='Shapes/*/1:Shapes/*/6' >> "$OUT/cuda_sanitizer.log" 2>&1
  grep -E "ERROR SUMMARY|PASSED|FAILED" "$OUT/cuda_sanitizer.log"
fi
