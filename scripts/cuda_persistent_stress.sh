#!/usr/bin/env bash
# The persistent decode kernel's cross-block ordering on a GPU (issue 13, section 4): its tests,
# repeated (against the kernel-by-kernel decode; bitwise against itself under random per-block
# and per-warp pauses and with a pool for the in projection: XLSTM_PD_JITTER_NS,
# XLSTM_PD_POOL_IN), then compute-sanitizer's synccheck (barrier misuse), racecheck (shared
# memory; it does not model mbarriers, so the ring's stage metadata, written by the producer
# and read after the consumers' mbarrier wait, shows as hazards) and memcheck. On the GPU
# machine, from a bundle made here:
#   scripts/cuda_remote_tests.sh exec scripts/cuda_persistent_stress.sh     (log: $OUT)
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
log=$OUT/cuda_persistent_stress.log
one='Shapes/CudaPersistentDecode.EqualsKernelByKernelDecode/8x128untied'
{
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
  for i in 1 2 3 4 5; do
    echo "## run $i"
    timeout 300 build/tests/test_cuda_model --gtest_filter='Shapes/CudaPersistentDecode.*' \
      --gtest_also_run_disabled_tests 2>&1 |
      grep -E "persistent decode|logits differ|OK \]|FAILED"
  done
  if command -v compute-sanitizer >/dev/null; then
    for tool in synccheck racecheck memcheck; do
      echo "## compute-sanitizer --tool $tool ($one)"
      timeout 300 compute-sanitizer --tool "$tool" build/tests/test_cuda_model --gtest_filter="$one" \
        > "$OUT/sanitizer_$tool.log" 2>&1
      grep -E "persistent decode|OK \]|FAILED|SUMMARY" "$OUT/sanitizer_$tool.log"
    done
    echo "## compute-sanitizer --tool memcheck, jitter and in-projection pool"
    timeout 300 compute-sanitizer --tool memcheck build/tests/test_cuda_model \
      --gtest_filter='Shapes/CudaPersistentDecode.BitwiseTheSameUnderTimingJitterAndInPool/8x128untied' 2>&1 |
      tail -8
  else
    echo "compute-sanitizer: not on this machine"
  fi
} 2>&1 | tee "$log"
