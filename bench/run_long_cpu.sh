#!/usr/bin/env bash
# The long-run check on the CPU (issue 13): a 1M-token prompt prefilled in segments, then 256
# greedy decode steps, on each bundled model, against a 10k-token run of the same: it completes
# (the sampler refuses any non-finite logit, so every pick saw finite logits), and the peak RSS
# does not grow with the length (the state is constant-size). Results: bench/results/cpu_long.md.
# Usage: bench/run_long_cpu.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin/xlstm}
for model in tiny-shakespeare family-shakespeare; do
  for len in 10000 1000000; do
    echo "\$ $bin bench -m models/$model --prompt-len $len --gen 256 --batch 1 --reps 1 --threads 2"
    /usr/bin/time -f "wall %e s, max RSS %M KiB" "$bin" bench -m "models/$model" --prompt-len "$len" \
      --gen 256 --batch 1 --reps 1 --threads 2 2>&1 | grep -vE "^\|--"
  done
done
