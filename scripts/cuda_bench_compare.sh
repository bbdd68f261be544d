#!/usr/bin/env bash
# The side-by-side benchmark, in one device call: this engine (binaries built here and carried in
# .cuda_run, see cuda_remote_tests.sh) and the reference implementations (bench/cuda_reference.py:
# NX-AI xlstm + mlstm_kernels from wheels carried in .whl, HF transformers from the machine) at the
# xLSTM-7B shape with random bf16 weights: prefill B=1 at S = 512, 2048, 8192, 32768, TTFT, decode
# at B = 1, 16, 64, 256, peak GPU memory, and a 1M-token prefill of ours. On the GPU machine:
#   scripts/cuda_remote_tests.sh exec scripts/cuda_bench_compare.sh     (carry .cuda_run and .whl)
# Logs to $OUT: ours.log, reference.log, reference.json.
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
cfg=tests/fixtures/configs/xlstm-7b.json
bench=(build/bin/xlstm bench --config "$cfg" --device cuda)
{
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
  echo "## prefill, B=1 (TTFT: the prompt's pass and the first token's pick)"
  first=1
  for S in 512 2048 8192 32768; do
    if [ $first = 1 ]; then
      timeout 200 "${bench[@]}" --prompt-len $S --gen 0 --batch 1 --reps 3 2>&1 | tail -4
      first=0
    else
      timeout 200 "${bench[@]}" --prompt-len $S --gen 0 --batch 1 --reps 3 2>&1 | tail -1
    fi
  done
  echo "## decode: 64 greedy steps after a 64-token prompt per sequence (CUDA graph)"
  timeout 200 "${bench[@]}" --prompt-len 64 --gen 64 --batch 1,16,64,256 --reps 2 2>&1 | tail -6
  echo "## a 1M-token prefill, then 4 decode steps"
  timeout 200 "${bench[@]}" --prompt-len 1048576 --gen 4 --batch 1 --reps 1 2>&1 | tail -1
} 2>&1 | tee "$OUT/ours.log"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
PYTHONUNBUFFERED=1 timeout 420 python3 bench/cuda_reference.py --budget-s 190 \
  --json "$OUT/reference.json" > "$OUT/reference.log" 2>&1
sed -n '/^## Reference/,$p' "$OUT/reference.log"
