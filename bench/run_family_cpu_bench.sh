#!/usr/bin/env bash
# The original family on the CPU, side by side in one run: this engine (float32 and bf16 weights)
# and the official xlstm package (vanilla sLSTM, float32) on the same config with random weights.
#   bench/run_family_cpu_bench.sh [CONFIG] [PYTHON]   (PYTHON: one with torch and xlstm)
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-bench/configs/xlstm-120m-7to1.json}
py=${2:-python3}
threads=$(nproc)
echo "# $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p'), $threads threads; config $config"
for w in f32 bf16; do
  echo "## xlstm.cpp, --weights $w"
  ./build/bin/xlstm bench --config "$config" --weights $w --prompt-len 128 --gen 32 --batch 1,4 \
    --reps 2 -t "$threads" | tail -4
done
echo "## official xlstm (vanilla sLSTM, float32)"
"$py" bench/family_cpu_reference.py --config "$config" --prompt-len 128 --gen 32 --batch 1,4 \
  --threads "$threads"
