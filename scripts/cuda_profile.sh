#!/usr/bin/env bash
# On the GPU machine, through `scripts/cuda_remote_tests.sh exec scripts/cuda_profile.sh`: where the
# GPU time of a 7B-shape prefill and decode step goes (ncu, one metric per kernel, real clocks and
# caches), then the bench table at the issue's sizes. Logs to $OUT. PROFILES="prefill8192
# prefill2048 prefill_b8_s64 decode_b1 decode_b64 decode_b256" picks the profiles, BENCH=0 skips the bench table.
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
cfg=${CONFIG:-tests/fixtures/configs/xlstm-7b.json}  # CONFIG=...: another model shape
bench=(build/bin/xlstm bench --config "$cfg" --device cuda)
skip='fill_(normal|value)_kernel|scale_columns_kernel'  # load-time work
raw=${NCU_DIR:-/tmp/ncu}  # the raw ncu logs (not kept: $OUT returns only a few files)
mkdir -p "$raw"
profile() {  # name, per (calls to divide by), bench arguments...
  local name=$1 per=$2
  shift 2
  timeout 300 ncu --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
    "${bench[@]}" "$@" > "$raw/ncu_$name.csv" 2> "$raw/ncu_$name.err" || tail -5 "$raw/ncu_$name.err"
  echo "## $name: ${bench[*]} $* (per call: /$per)"
  python3 bench/ncu_summary.py "$raw/ncu_$name.csv" --skip "$skip" --per "$per" | head -${TOP:-25}
}
{
  for p in ${PROFILES-prefill8192 decode_b1 decode_b64}; do
    case $p in
      prefill8192) profile prefill8192 1 --prompt-len 8192 --gen 0 --batch 1 ;;
      prefill2048) profile prefill2048 1 --prompt-len 2048 --gen 0 --batch 1 ;;
      prefill_b8_s64) profile prefill_b8_s64 1 --prompt-len 64 --gen 0 --batch 8 --reps 1 ;;  # a server's joiners
      decode_b1) profile decode_b1 4 --prompt-len 1 --gen 3 --batch 1 ;;
      decode_b64) profile decode_b64 4 --prompt-len 1 --gen 3 --batch 64 ;;
      decode_b256) profile decode_b256 4 --prompt-len 1 --gen 3 --batch 256 ;;
    esac
  done
  [ "${BENCH:-1}" = 1 ] || exit 0
  for S in 512 2048 8192 32768; do
    echo "\$ ${bench[*]} --prompt-len $S --gen 0 --batch 1 --reps 2"
    timeout 200 "${bench[@]}" --prompt-len "$S" --gen 0 --batch 1 --reps 2 2>&1 | tail -1
  done
  for seg in 2048 4096 8192; do
    echo "\$ ${bench[*]} --prompt-len 8192 --gen 0 --batch 1 --reps 2 --segment-len $seg"
    timeout 200 "${bench[@]}" --prompt-len 8192 --gen 0 --batch 1 --reps 2 --segment-len $seg 2>&1 | tail -1
  done
  echo "\$ ${bench[*]} --prompt-len 128 --gen 64 --batch 1,16,64,256 --reps 2"
  timeout 300 "${bench[@]}" --prompt-len 128 --gen 64 --batch 1,16,64,256 --reps 2 2>&1
} 2>&1 | tee "$OUT/cuda_profile.log"
