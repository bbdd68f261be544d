#!/usr/bin/env bash
# The float32 chunkwise cell case that fails for some seeds: N runs of its test case, each
# printing h's distance from the CPU, from float64, and the float64 sensitivity to 1-ulp inputs.
# From a bundle: scripts/cuda_remote_tests.sh exec scripts/debug/chunkwise_f32_seeds.sh
#   (log: $OUT/chunkwise_f32_seeds.log); N=20.
. "$(dirname "$0")/start_log.sh"
start_log chunkwise_f32_seeds
for i in $(seq "${N:-20}"); do
  timeout 60 build/tests/test_cuda_ops \
    --gtest_filter='*mlstm_chunkwise_1_8_128_256_512_64_f32*:*mlstm_chunkwise_2_2_200_64_64_64_f32*' 2>&1 |
    grep -E "\[ op \] mlstm_chunkwise|seed" | sed "s/^/$i /" >> "$log"
done
grep -c "Failure\|seed" "$log"
python3 - "$log" <<'PY'
import re, sys, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    m = re.match(r"(\d+) \[ op \] mlstm_chunkwise\s+(.*?)\s+f32\s+err (\S+)", line)
    if m: rows[m.group(1)][m.group(2)] = float(m.group(3))
print("run  h-vs-cpu  h-vs-f64  cpu-vs-f64  sens  (h-vs-f64)/sens")
for k, r in rows.items():
    s = r.get("h from 1-ulp inputs, float64 (informational)", float("nan"))
    g = r.get("h vs float64", float("nan"))
    print(k, r.get("h", float("nan")), g, r.get("h of the CPU vs float64", float("nan")), s, g / s if s else 0)
PY
