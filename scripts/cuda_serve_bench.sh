#!/usr/bin/env bash
# The serving benchmark on the GPU machine (bench/results/serve_cuda.md) in one call: the engine's
# own B=1 and B=64 decode on the 7B shape, then scripts/bench_serve.py against `xlstm serve` with
# random weights of that shape. From a bundle made here (scripts/cuda_remote_tests.sh pack):
#   CACHE_MB=16000 REQUESTS=16 scripts/cuda_remote_tests.sh exec scripts/cuda_serve_bench.sh   (logs: $OUT)
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
cfg=tests/fixtures/configs/xlstm-7b.json
{
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
  echo "\$ xlstm bench --config $cfg --device cuda --prompt-len 64 --gen 64 --batch 1,64 --reps 1"
  timeout 200 build/bin/xlstm bench --config "$cfg" --device cuda --prompt-len 64 --gen 64 \
    --batch 1,64 --reps 1
  echo "\$ bench_serve.py ... --cache-mb ${CACHE_MB:-16000}"
  timeout 400 python3 scripts/bench_serve.py --model "$cfg" \
    --server-arg=--tokenizer=models/tokenizers/gpt-neox-20b/tokenizer.json --device cuda \
    --concurrency 1,8,32,64 --requests "${REQUESTS:-16}" --max-tokens 64 --system-tokens 2000 \
    --system-concurrency 8 --cache-mb "${CACHE_MB:-16000}" --out "$OUT/serve_cuda_tables.md"
  # 64 streams again without the overlap of host work and device steps (the scheduler as before
  # the eighth session), then a decode-bound load (16-token prompts, 256 new tokens), both ways.
  serve=(python3 scripts/bench_serve.py --model "$cfg" --device cuda --concurrency 64
         --server-arg=--tokenizer=models/tokenizers/gpt-neox-20b/tokenizer.json --system-tokens 0)
  echo "\$ XLSTM_SERVE_OVERLAP=0 bench_serve.py ... --concurrency 64"
  XLSTM_SERVE_OVERLAP=0 timeout 200 "${serve[@]}" --requests "${REQUESTS:-16}" --max-tokens 64
  for pb in ${PREFILL_BATCHES:-}; do
    echo "\$ bench_serve.py ... --concurrency 64 --prefill-batch $pb"
    timeout 200 "${serve[@]}" --requests "${REQUESTS:-16}" --max-tokens 64 \
      --server-arg=--prefill-batch="$pb"
  done
  for overlap in 1 0; do
    echo "\$ XLSTM_SERVE_OVERLAP=$overlap bench_serve.py ... --prompt-tokens 16 --max-tokens 256"
    XLSTM_SERVE_OVERLAP=$overlap timeout 200 "${serve[@]}" --requests 4 --prompt-tokens 16 \
      --max-tokens 256
  done
} 2>&1 | tee "$OUT/serve_cuda.log"
