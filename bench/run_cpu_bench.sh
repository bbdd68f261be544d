#!/usr/bin/env bash
# CPU benchmark: xlstm.cpp (f32 and bf16 weights) next to HF transformers (torch, fp32) on the same
# random ~125M xLSTM Large config, plus the machine's memory read bandwidth. Writes markdown to stdout.
# Usage: bench/run_cpu_bench.sh [prompt_len] [gen] [threads]   (needs ./build, torch, transformers)
set -euo pipefail
cd "$(dirname "$0")/.."
P=${1:-512}
G=${2:-64}
T=${3:-$(nproc)}
CFG=bench/configs/xlstm-125m.json
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "date: $(date -u +%F)  threads: $T  prompt: $P  decode steps: $G"
echo
echo '```'
./build/bin/memory_bandwidth "$T"
echo '```'
echo
for w in f32 bf16; do
  echo "### xlstm.cpp, $w weights"
  echo '```'
  echo "./build/bin/xlstm bench --config $CFG --prompt-len $P --gen $G --batch 1,4 --threads $T --weights $w --reps 2"
  echo '```'
  ./build/bin/xlstm bench --config "$CFG" --prompt-len "$P" --gen "$G" --batch 1,4 --threads "$T" --weights "$w" --reps 2
  echo
done
echo "### HF transformers xLSTMForCausalLM (torch, fp32)"
echo '```'
echo "python3 scripts/bench_hf_cpu.py --config $CFG --prompt-len $P --gen $G --batch 1,4 --threads $T --reps 2"
echo '```'
python3 scripts/bench_hf_cpu.py --config "$CFG" --prompt-len "$P" --gen "$G" --batch 1,4 --threads "$T" --reps 2 2>/dev/null
