#!/usr/bin/env bash
# Train models/family-shakespeare (original xLSTM family, m s m s, official NX-AI xlstm package with the
# pure-PyTorch "vanilla" sLSTM backend) on the GPU machine, in one command from the repository root:
#   scripts/run_family_training_gpu.sh [extra train_family_shakespeare.py flags]     (carry .whl)
# Needs the official package as a wheel in .whl/ (pure Python; the machine's torch, packaging,
# safetensors, tokenizers and numpy are used as they are), fetched here with
#   python3 -m pip download --no-deps -d .whl xlstm==2.0.6
# Writes $OUT/family-shakespeare/ (config.json, model.safetensors, tokenizer.json, training_log.json,
# README.md: flat, 5 files, the largest ~11 MB) and $OUT/family_train.log. About 4 minutes on one H200
# (training stops at --time-budget, default 170 s; then a CPU float32 evaluation with the official model).
# Afterwards, here:  cp -r <fetched>/family-shakespeare models/ and check with
#   build/bin/xlstm perplexity -m models/family-shakespeare -f tests/fixtures/tiny_shakespeare/val.txt --ctx 256 --bos no
#   python3 scripts/train_family_shakespeare.py --eval-only models/family-shakespeare
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out}
dest=$OUT/family-shakespeare
mkdir -p "$dest"
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit 1
{
  echo "# $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
  PYTHONUNBUFFERED=1 timeout 540 python3 scripts/train_family_shakespeare.py --device cuda --out "$dest" "$@"
  echo "exit status $?"
} 2>&1 | grep --line-buffered -v "cpp_extension.py" | tee "$OUT/family_train.log"
echo "== whole command: $(( $(date +%s) - t0 )) s"
ls -la "$dest"
python3 - "$dest" <<'EOF'
import json, os, sys
d = sys.argv[1]
big = [f for f in os.listdir(d) if os.path.getsize(os.path.join(d, f)) >= 16 * 2**20]
if big:
    print("WARNING: files of 16 MiB or more will not come back:", big)
lg = json.load(open(os.path.join(d, "training_log.json")))
f, b = lg["final"], lg["best"]
print(f"steps {lg['steps']} ({lg['stop_reason']}), training {lg['train_wall_s']} s, process {lg['total_wall_s']} s; "
      f"kept step {b['step']}")
print(f"final losses (CPU fp32): train {f['train_loss']:.4f}, val {f['val_loss']:.4f}")
p = f["perplexity"]
print(f"official perplexity (ctx {p['ctx']}, bos {p['bos']}): mean NLL {p['mean_nll']:.6f}, ppl {p['perplexity']:.4f}")
EOF
