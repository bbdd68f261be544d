# Sourced by the GPU debug scripts (not run): `start_log NAME [WORDS...]` makes $OUT (default
# ./out) and starts log=$OUT/NAME.log with the date, the GPU and its driver, and WORDS.
set -uo pipefail
OUT=${OUT:-$PWD/out}
start_log() {
  mkdir -p "$OUT"
  log=$OUT/$1.log
  shift
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) $*" |
    tee "$log"
}
