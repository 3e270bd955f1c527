#!/usr/bin/env bash
# gpu-check.sh — issue 8's proof on a GPU, as ONE prepared script for the device tool (the GPU
# machine has no Rust: the binary is built here by scripts/cuda-build.sh and carried). Runs
# from the repository root, in this order, each step under its own timeout, a failed step
# logged and the rest run anyway:
#   0. the machine: GPU and driver, glibc, which CUDA libraries the binary loads (LD_DEBUG);
#   1. smoke: each variant (and a conv net) for 1 epoch on a small train_limit, --device $DEVICE;
#      then `ae-runner parity`: one step of each variant on the CPU and on $DEVICE from the same
#      weights, batch and noise, every loss and gradient within 1e-5 relative;
#   2. CPU against GPU: the same short runs (vae, denoising, dropout) on the CPU with seeds 0
#      and 1 and on the GPU with seed 0: the GPU's final test metrics must differ from the
#      CPU's (seed 0) by less than the two CPU seeds differ from each other;
#   3. benchmark: 2 epochs over the 60000 training images of the seed AE at batch 32 and 256
#      and of the VAE at batch 128, aelab against PyTorch eager (bench/pytorch/seed_ae.py
#      --fast, seed_vae.py) on the same device; epoch 1 includes the warm-up (PTX JIT, cuBLAS
#      handles), epoch 2 is the comparison;
#   4. sweep throughput: the 21 runs of vae-kl-sweep, short, with --jobs 1 and 4 (runs/hour).
# It works in $WORK (default /tmp/gpu-check) and leaves three files in $OUT (the device
# tool's output folder, which takes back at most 8 files): gpu-check.md (the tables),
# gpu-check.log, and steps.tar.gz (every step's output and the runs' CSV files).
#
# On the GPU machine (device tool; about 4-5 minutes expected, BUDGET caps it at 450 s). The
# working tree (~45 MiB) and the binary (~35 MiB) are over the tool's 64 MiB, so carry the
# gzipped binary that cuda-build.sh leaves beside it (~12 MiB); it is unpacked here:
#   run(command="bash scripts/gpu-check.sh", carry=["target/cuda/release/ae-runner.gz"], timeout_s=540)
# Here, without a GPU (to try the script; the benchmark on 5000 images):
#   DEVICE=cpu BIN=target/release/ae-runner PY=path/to/python BENCH_IMAGES=5000 bash scripts/gpu-check.sh
#
# Knobs: BIN (default target/cuda/release/ae-runner; BIN.gz is unpacked when BIN is missing),
# DEVICE (cuda), PY (python with torch; default /opt/torch/.venv/bin/python), OUT (default
# a fresh folder under /tmp), WORK (scratch, default /tmp/gpu-check, emptied first), BUDGET
# (seconds; steps that would start later are skipped, default 450), BENCH_IMAGES (train
# images of the benchmark, default all 60000), SMOKE_IMAGES (default 2000).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BIN=${BIN:-target/cuda/release/ae-runner}
DEVICE=${DEVICE:-cuda}
PY=${PY:-/opt/torch/.venv/bin/python}
OUT=${OUT:-$(mktemp -d /tmp/gpu-check-out.XXXXXX)}
FINAL=$OUT
OUT=${WORK:-/tmp/gpu-check}   # below, $OUT is the scratch folder; $FINAL gets three files
BUDGET=${BUDGET:-450}
BENCH_IMAGES=${BENCH_IMAGES:-60000}
SMOKE_IMAGES=${SMOKE_IMAGES:-2000}
rm -rf "$OUT" && mkdir -p "$OUT/steps" "$FINAL"
LOG=$OUT/gpu-check.log
MD=$OUT/gpu-check.md
T0=$SECONDS
FAILED=()
: >"$LOG"
log() { printf '[gpu-check %3ds] %s\n' "$((SECONDS - T0))" "$*" | tee -a "$LOG" >&2; }
md() { printf '%s\n' "$*" >>"$MD"; }

# step NAME TIMEOUT CMD...: runs CMD with its output in steps/NAME.out; logs and records a
# failure (or a skip when the budget is spent) and never stops the script.
step() {
  local name=$1 limit=$2 rc
  shift 2
  if (( SECONDS - T0 + 5 > BUDGET )); then
    log "SKIP $name: the budget of $BUDGET s is spent"
    FAILED+=("$name (skipped)")
    return 1
  fi
  log "run  $name: $*"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/steps/$name.out" 2>&1
  rc=$?
  if (( rc == 0 )); then
    log "ok   $name"
  else
    log "FAIL $name (exit $rc$( ((rc == 124)) && echo ", timed out after $limit s")); its last lines:"
    tail -n 5 "$OUT/steps/$name.out" | sed 's/^/       /' | tee -a "$LOG" >&2
    FAILED+=("$name")
  fi
  return "$rc"
}

# aelab's flags for a run without the end-of-run evaluation extras.
QUIET=(--set eval.probe=false --set eval.knn_k=0 --set eval.iwae_k=0 --set eval.pictures=false)
# csv_get FILE COLUMN: the column of the last row of a CSV file.
csv_get() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(rows[-1][sys.argv[2]])
PY
}

if [[ ! -x $BIN && -f $BIN.gz ]]; then
  gunzip -c "$BIN.gz" >"$BIN.tmp" && chmod +x "$BIN.tmp" && mv "$BIN.tmp" "$BIN" && log "unpacked $BIN.gz"
fi
echo "# gpu-check $(date -u +%Y-%m-%dT%H:%MZ)" >"$MD"
md ""
md "binary: \`$BIN\` ($(stat -c %s "$BIN" 2>/dev/null || echo '?') bytes), device: \`$DEVICE\`, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

# ------------------------------------------------------------------- 0. the machine ---
log "== 0. the machine"
{
  echo "## nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  echo "## glibc"; ldd --version 2>&1 | head -n1
  echo "## ldd $BIN"; ldd "$BIN" 2>&1
  echo "## rpath"; readelf -d "$BIN" 2>&1 | grep -E 'R(UN)?PATH'
  echo "## the rpath's CUDA folder"; ls /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib 2>&1
  echo "## $BIN --version"; "$BIN" --version 2>&1
  echo "## $PY"; "$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1
} >"$OUT/steps/machine.out" 2>&1
sed 's/^/    /' "$OUT/steps/machine.out" | tee -a "$LOG" >&2
md "" ; md "## The machine" ; md '```' ; cat "$OUT/steps/machine.out" >>"$MD" ; md '```'
[[ -x $BIN ]] || { log "FAIL: $BIN is missing or not executable (carry it: target/cuda/release/ae-runner)"; exit 1; }

# -------------------------------------------------------------------- 1. smoke runs ---
log "== 1. smoke: each variant, 1 epoch, $SMOKE_IMAGES images, --device $DEVICE"
md ""; md "## 1. Smoke runs (1 epoch, $SMOKE_IMAGES training images, --device $DEVICE)"; md ""
md "| run | exit | device line | test mse | s |"; md "|---|---|---|---|---|"
SMOKE=(--device "$DEVICE" --set train.epochs=1 --set "data.train_limit=$SMOKE_IMAGES"
       --set data.val_size=200 --set data.test_limit=1000 "${QUIET[@]}")
smoke() {   # smoke NAME EXPERIMENT [extra flags...]
  local name=$1 exp=$2 rc t=$SECONDS
  shift 2
  step "smoke-$name" 120 "$BIN" "$exp" "${SMOKE[@]}" --out "$OUT/smoke-$name" "$@"
  rc=$?
  local dev_line mse
  dev_line=$(grep -m1 -E '^ *(INFO )?device ' "$OUT/steps/smoke-$name.out" | sed 's/^ *INFO *//' || true)
  mse=$(csv_get "$(find "$OUT/smoke-$name" -name test.csv 2>/dev/null | head -n1)" mse || true)
  md "| $name | $rc | ${dev_line:-?} | ${mse:-?} | $((SECONDS - t)) |"
}
# The first run also logs which files the dynamic loader opened for cudarc's dlopen calls.
LD_DEBUG=libs LD_DEBUG_OUTPUT=$OUT/steps/ld-debug smoke plain experiments/ae.yaml
grep -hE 'trying file=|calling init:' "$OUT"/steps/ld-debug* 2>/dev/null \
  | grep -E 'cuda|cublas|curand|nvrtc' | sed 's/^ *[0-9]*: *//' | sort -u >"$OUT/steps/dlopen.txt"
log "CUDA libraries the binary loaded (LD_DEBUG=libs):"
grep 'calling init' "$OUT/steps/dlopen.txt" | sed 's/^/    /' | tee -a "$LOG" >&2
rm -f "$OUT"/steps/ld-debug*
smoke denoising experiments/denoising.yaml
smoke dropout experiments/dropout.yaml --set model.hidden_dropout=0.1
smoke adversarial experiments/adversarial.yaml
smoke adversarial-mixture experiments/adversarial.yaml --set model.prior=mixture
smoke vae experiments/vae.yaml --set data.binarize=dynamic
smoke conv-denoising experiments/denoising.yaml --set model.arch=conv
md ""; md "Libraries opened (LD_DEBUG=libs, first smoke run):"; md '```'
grep 'calling init' "$OUT/steps/dlopen.txt" >>"$MD" 2>/dev/null; md '```'

# One step of each variant on the CPU and on the GPU from the same weights, batch and noise:
# every loss and every gradient within 1e-5 relative (ae-runner parity; exit 1 over it).
log "== 1b. one-step parity: losses and gradients, $DEVICE against cpu"
step parity 120 "$BIN" parity experiments/compare-variants.yaml --device "$DEVICE" \
  --set data.train_limit=512
parity_rc=$?
md ""; md "One-step parity (\`ae-runner parity experiments/compare-variants.yaml\`, exit $parity_rc):"; md ""
grep -E '^parity ' "$OUT/steps/parity.out" >>"$MD" 2>/dev/null
sort -t'|' -k4 -g -r "$OUT/steps/parity.out" 2>/dev/null | grep -E '^\| seed' | head -n 5 >>"$MD"

# ----------------------------------------------------------------- 2. CPU against GPU ---
log "== 2. CPU against $DEVICE: 2 epochs on 5000 images; CPU seeds 0 and 1, $DEVICE seed 0"
md ""; md "## 2. CPU against $DEVICE (2 epochs, 5000 training images, 2000 test images)"; md ""
md "GPU seed 0 against CPU seed 0, measured against the spread between CPU seeds 0 and 1."; md ""
md "| experiment | metric | CPU seed 0 | CPU seed 1 | $DEVICE seed 0 | \\|$DEVICE - CPU\\| | \\|seed 1 - seed 0\\| | within the seed spread |"
md "|---|---|---|---|---|---|---|---|"
CMP=(--set train.epochs=2 --set data.train_limit=5000 --set data.val_size=500
     --set data.test_limit=2000 "${QUIET[@]}")
compare() {   # compare NAME EXPERIMENT METRIC [extra flags...]
  local name=$1 exp=$2 metric=$3
  shift 3
  step "cmp-$name-cpu0" 150 "$BIN" "$exp" "${CMP[@]}" --device cpu --set train.seed=0 --out "$OUT/cmp-$name-cpu" "$@"
  step "cmp-$name-cpu1" 150 "$BIN" "$exp" "${CMP[@]}" --device cpu --set train.seed=1 --out "$OUT/cmp-$name-cpu" "$@"
  step "cmp-$name-gpu0" 150 "$BIN" "$exp" "${CMP[@]}" --device "$DEVICE" --set train.seed=0 --out "$OUT/cmp-$name-gpu" "$@"
  local c0 c1 g0
  c0=$(csv_get "$(find "$OUT/cmp-$name-cpu" -path '*seed=0*' -name test.csv | head -n1)" "$metric")
  c1=$(csv_get "$(find "$OUT/cmp-$name-cpu" -path '*seed=1*' -name test.csv | head -n1)" "$metric")
  g0=$(csv_get "$(find "$OUT/cmp-$name-gpu" -path '*seed=0*' -name test.csv | head -n1)" "$metric")
  local row
  row=$(python3 - "$c0" "$c1" "$g0" <<'PY'
import sys
def num(v):
    try:
        return float(v)
    except ValueError:
        return None
c0, c1, g0 = map(num, sys.argv[1:])
cell = lambda v: "?" if v is None else f"{v:.6g}"
if None in (c0, c1, g0):
    print(f"| {cell(c0)} | {cell(c1)} | {cell(g0)} | ? | ? | no: a run failed |")
else:
    d, s = abs(g0 - c0), abs(c1 - c0)
    print(f"| {cell(c0)} | {cell(c1)} | {cell(g0)} | {d:.3g} | {s:.3g} | {'yes' if d < s else 'NO'} |")
PY
)
  md "| $name | $metric $row"
  log "compare $name ($metric): CPU s0 ${c0:-?}, CPU s1 ${c1:-?}, $DEVICE s0 ${g0:-?}"
  [[ $row == *"| yes |" ]] || FAILED+=("cmp-$name: $DEVICE outside the seed spread")
}
compare vae experiments/vae.yaml neg_elbo
compare denoising experiments/denoising.yaml mse
compare dropout experiments/dropout.yaml mse --set model.hidden_dropout=0.1

# -------------------------------------------------------------------- 3. benchmark ---
log "== 3. benchmark on $DEVICE: 2 epochs over $BENCH_IMAGES images, aelab and PyTorch eager"
BENCH=(--device "$DEVICE" --set train.epochs=2 --set data.val_size=0 --set train.test_each_epoch=false
       --set "data.train_limit=$BENCH_IMAGES" "${QUIET[@]}")
LIMIT=(); (( BENCH_IMAGES < 60000 )) && LIMIT=(--limit "$BENCH_IMAGES")
step bench-aelab-ae32 150 "$BIN" experiments/ae.yaml "${BENCH[@]}" --set train.batch_size=32 --out "$OUT/bench-ae32"
step bench-torch-ae32 150 bash -c "cd bench/pytorch && '$PY' seed_ae.py --fast --batch 32 --seeds 0 --epochs 2 --device $DEVICE ${LIMIT[*]} --out '$OUT/steps/torch-ae32.json'"
step bench-aelab-ae256 150 "$BIN" experiments/ae.yaml "${BENCH[@]}" --set train.batch_size=256 --out "$OUT/bench-ae256"
step bench-torch-ae256 150 bash -c "cd bench/pytorch && '$PY' seed_ae.py --fast --batch 256 --seeds 0 --epochs 2 --device $DEVICE ${LIMIT[*]} --out '$OUT/steps/torch-ae256.json'"
step bench-aelab-vae128 150 "$BIN" experiments/vae.yaml "${BENCH[@]}" --set train.batch_size=128 --out "$OUT/bench-vae128"
step bench-torch-vae128 150 bash -c "cd bench/pytorch && '$PY' seed_vae.py --batch 128 --seeds 0 --epochs 2 --device $DEVICE ${LIMIT[*]} --out '$OUT/steps/torch-vae128.json'"
python3 - "$OUT" "$DEVICE" "$BENCH_IMAGES" >>"$MD" 2>>"$LOG" <<'PY'
import csv, glob, json, sys
out, device, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def aelab(key):
    rows = []
    for f in glob.glob(f"{out}/bench-{key}/*/metrics.csv") + glob.glob(f"{out}/bench-{key}/*/*/metrics.csv"):
        rows = list(csv.DictReader(open(f)))
    return [n / float(r["images_per_sec"]) for r in rows]
def torch(key):
    try:
        return json.load(open(f"{out}/steps/torch-{key}.json"))["runs"][0]["sec_per_epoch"]
    except (OSError, KeyError, IndexError, ValueError):
        return []
print(f"\n## 3. One epoch over {n} MNIST images on `{device}`: aelab against PyTorch eager\n")
print("Seconds of the training loop per epoch (epoch 1 includes the warm-up); images/s and the "
      "ratio from epoch 2.\n")
print("| job | loop | epoch 1 s | epoch 2 s | images/s | PyTorch s / aelab s |")
print("|---|---|---|---|---|---|")
for job, key in [("seed AE, batch 32", "ae32"), ("seed AE, batch 256", "ae256"), ("VAE, batch 128", "vae128")]:
    a, t = aelab(key), torch(key)
    fmt = lambda xs, i: f"{xs[i]:.3f}" if len(xs) > i else "?"
    ratio = f"{t[1] / a[1]:.2f}" if len(a) > 1 and len(t) > 1 else "?"
    ips = lambda xs: f"{n / xs[1]:.0f}" if len(xs) > 1 else "?"
    print(f"| {job} | aelab | {fmt(a, 0)} | {fmt(a, 1)} | {ips(a)} | {ratio} |")
    print(f"| {job} | PyTorch eager (fast loop) | {fmt(t, 0)} | {fmt(t, 1)} | {ips(t)} | 1.00 |")
PY

# ------------------------------------------------------------ 4. sweep throughput ---
# The 21 runs of vae-kl-sweep (1 epoch of 5000 images each), one process and then 4 processes
# sharing the device (--jobs): runs per hour, the number the stacked-runs work must beat.
log "== 4. sweep throughput on $DEVICE: vae-kl-sweep, 21 short runs, --jobs 1 and 4"
md ""; md "## 4. vae-kl-sweep on \`$DEVICE\` (21 runs, 1 epoch of 5000 images each)"; md ""
md "| processes | exit | wall s | runs per hour |"; md "|---|---|---|---|"
SWEEP=(--device "$DEVICE" --set train.epochs=1 --set data.train_limit=5000 --set data.val_size=0
       --set data.test_limit=1000 "${QUIET[@]}")
for jobs in 1 4; do
  t=$SECONDS
  step "sweep-jobs$jobs" 200 "$BIN" experiments/vae-kl-sweep.yaml "${SWEEP[@]}" --jobs "$jobs" \
    --out "$OUT/sweep-jobs$jobs"
  rc=$?
  wall=$((SECONDS - t))
  md "| $jobs | $rc | $wall | $(( wall > 0 ? 21 * 3600 / wall : 0 )) |"
done

# ---------------------------------------------------------------------------- end ---
md ""
if (( ${#FAILED[@]} )); then
  md "**Failed or skipped:** ${FAILED[*]}"
  log "done in $((SECONDS - T0)) s; failed or skipped: ${FAILED[*]}"
else
  md "Every step passed."
  log "done in $((SECONDS - T0)) s; every step passed"
fi
cp "$MD" "$LOG" "$FINAL/"
(cd "$OUT" && find steps . -path ./steps -prune -o \( -name '*.csv' -o -name run.json -o -name config.yaml \) -print \
   | tar -czf "$FINAL/steps.tar.gz" -T - steps) 2>/dev/null
log "tables: $FINAL/gpu-check.md (and gpu-check.log, steps.tar.gz)"
cat "$MD"
(( ${#FAILED[@]} == 0 ))
