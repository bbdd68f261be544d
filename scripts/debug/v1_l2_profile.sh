#!/usr/bin/env bash
# Where the persistent v1 decode kernel's bytes come from (GPU machine, binaries from
# scripts/cuda_remote_tests.sh pack): ncu's duration, DRAM bytes and L2 read sectors and hits of
# the kernel's launches of one decode token (after a 1-token prompt), under each run-time
# setting in ENVS (space-separated runs, each a comma-separated list of VAR=value; the defaults
# first). Caches are not flushed and clocks not locked (as in a real step).
#   scripts/cuda_remote_tests.sh exec scripts/debug/v1_l2_profile.sh   (log: $OUT/v1_l2_profile.log)
# CONFIG=... another stack, with LAUNCHES=its runs of consecutive mLSTM v1 blocks (7 for the
# default 1.3B 7:1: a step's launches of the kernel, the last ones profiled).
. "$(dirname "$0")/start_log.sh"
cfg=${CONFIG:-bench/configs/xlstm-1.3b-7to1.json}
start_log v1_l2_profile "$cfg"
metrics=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum
metrics=$metrics,lts__t_sectors_op_read.sum,lts__t_sectors_op_read_lookup_hit.sum
metrics=$metrics,lts__t_sectors_op_write.sum
for settings in "" ${ENVS:-}; do
  echo "## ${settings:-defaults}" | tee -a "$log"
  # The prompt's launches come first, then the decode steps': the summary keeps the last step's.
  # shellcheck disable=SC2046
  env $(tr ',' ' ' <<<"$settings") XLSTM_GRAPHS=off timeout 240 ncu --csv --cache-control none \
    --clock-control none -k regex:v1_decode_kernel --metrics "$metrics" \
    build/bin/xlstm bench --config "$cfg" --device cuda --prompt-len 1 --gen 2 --batch 1 \
    --reps 1 > /tmp/v1_l2.csv 2> /tmp/v1_l2.err || tail -3 /tmp/v1_l2.err | tee -a "$log"
  python3 - /tmp/v1_l2.csv "${LAUNCHES:-7}" <<'PY' 2>&1 | tee -a "$log"
import collections, csv, sys
rows = [r for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))]
by_launch = collections.OrderedDict()
for r in rows:
    v = float(r["Metric Value"].replace(",", "")) if r["Metric Value"] not in ("", "n/a") else 0.0
    by_launch.setdefault(r["ID"], {})[r["Metric Name"]] = (v, r["Metric Unit"])
launches = list(by_launch.values())
per_call = min(int(sys.argv[2]), len(launches))
last = launches[-per_call:] if per_call else []
def total(name, scale):
    s = 0.0
    for m in last:
        v, unit = m.get(name, (0.0, ""))
        s += v * {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3,
                  "ms": 1e3, "byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "KB": 1e3,
                  "MB": 1e6, "GB": 1e9}.get(unit, 1.0)
    return s / scale
t = total("gpu__time_duration.sum", 1.0)
rd, wr = total("dram__bytes_read.sum", 1e6), total("dram__bytes_write.sum", 1e6)
lr, lh = total("lts__t_sectors_op_read.sum", 1.0), total("lts__t_sectors_op_read_lookup_hit.sum", 1.0)
lw = total("lts__t_sectors_op_write.sum", 1.0)
print(f"launches of a step {per_call} (of {len(launches)} profiled); time {t:.1f} us")
print(f"DRAM read {rd:.1f} MB, written {wr:.1f} MB: {(rd + wr) / max(t, 1e-9):.2f} TB/s")
print(f"L2 read sectors {lr * 32 / 1e6:.1f} MB, hit {100 * lh / max(lr, 1):.1f}%; written {lw * 32 / 1e6:.1f} MB")
PY
done
