#!/usr/bin/env bash
# Tokenizer throughput, xlstm.cpp against HF tokenizers, one thread each, same machine, same run:
# GPT-NeoX-20B tokenizer on tiny Shakespeare. Prints a Markdown table.
#
# Usage: bench/run_tokenizer_bench.sh [build dir, default build] [repeats, default 5] [rounds, default 3]
# The two run alternately `rounds` times (each timing best of `repeats`); the table keeps each
# side's best round, which damps noise from other load on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
repeats=${2:-5}
rounds=${3:-3}
tok=models/tokenizers/gpt-neox-20b/tokenizer.json
text=data/tinyshakespeare.txt

bin=""
for candidate in "$build/bench/tokenizer_bench" "$build/bin/tokenizer_bench"; do
  if [[ -x $candidate ]]; then bin=$candidate; fi
done
if [[ -z $bin ]]; then
  echo "tokenizer_bench not found in $build (cmake --build $build --target tokenizer_bench)" >&2
  exit 1
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((r = 0; r < rounds; r++)); do
  "$bin" "$tok" "$text" "$repeats" >>"$results"
  RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false \
    python3 scripts/bench_tokenizer_hf.py "$tok" "$text" "$repeats" >>"$results"
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
ours = [r for r in rows if r["impl"] == "xlstm.cpp"]
hf = [r for r in rows if r["impl"] != "xlstm.cpp"]
def best(rs, key):
    return max(r[key] for r in rs)
print("| single thread, MB/s (1e6 input bytes/s) | xlstm.cpp | %s | ratio |" % hf[0]["impl"])
print("|---|---:|---:|---:|")
for key, label in [("encode_file_mbps", "encode, whole file as one string (warm)"),
                   ("encode_cold_mbps", "encode, whole file, first call (cold cache)"),
                   ("encode_lines_mbps", "encode, line by line"),
                   ("decode_mbps", "decode, whole file")]:
    a, b = best(ours, key), best(hf, key)
    print("| %s | %.2f | %.2f | %.1fx |" % (label, a, b, a / b))
a, b = min(r["load_s"] for r in ours), min(r["load_s"] for r in hf)
print("| load tokenizer.json, seconds | %.3f | %.3f | |" % (a, b))
same = {r["ids_hash"] for r in rows} == {ours[0]["ids_hash"]} and \
    {r["tokens"] for r in rows} == {ours[0]["tokens"]}
print()
print("Whole-file ids identical: %s (%d tokens, %d bytes); round trip exact: %s" % (
    "yes" if same else "NO", ours[0]["tokens"], ours[0]["bytes"],
    "yes" if all(r["roundtrip"] for r in rows) else "NO"))
PY
