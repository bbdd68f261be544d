#!/usr/bin/env bash
# The reference side of the family benchmark (GPU machine, from the repository root): NX-AI's `xlstm`
# package (xLSTMLMModel, sLSTM backends vanilla and cuda) and FlashRNN (sLSTM recurrence alone,
# backends cuda_fused and cuda) via bench/family_reference.py, with the wheels carried in .whl
# (xlstm, flashrnn, ninja, dacite, packaging; torch comes from the machine). About 6 minutes at most:
# no row starts after 240 s, a job still running at 330 s is killed, the whole run is stopped at 350 s.
# Logs to $OUT: family_reference.log, family_reference.json, family_reference_builds/ (JIT build logs).
#   scripts/cuda_family_reference.sh        (carry .whl; e.g. after scripts/cuda_family_bench.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
log=$OUT/family_reference.log
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PATH=/tmp/site/bin:$PATH  # the ninja wheel's binary: torch's JIT builds need `ninja` on PATH
if ! command -v nvcc >/dev/null && [ -z "${CUDA_HOME:-}" ]; then
  nvcc=$(ls -d /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc 2>/dev/null | head -1)
  [ -n "$nvcc" ] && export CUDA_HOME=$(dirname "$(dirname "$nvcc")")
fi
budget=${REF_BUDGET_S:-240}  # no row starts after this; jobs are killed 90 s later
PYTHONUNBUFFERED=1 timeout -k 15 $((budget + 110)) python3 bench/family_reference.py \
  --config bench/configs/xlstm-1.3b-7to1.json --config bench/configs/slstm-24x1024.json \
  --budget-s "$budget" --grace-s 90 --json "$OUT/family_reference.json" > "$log" 2>&1
rc=$?
[ $rc -ne 0 ] && echo "(family_reference.py exit code $rc, see $log)"
sed -n '/^## Reference/,$p' "$log"
