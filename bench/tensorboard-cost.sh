#!/usr/bin/env bash
# Usage: ROUNDS=5 bench/tensorboard-cost.sh [BINARY] [OUT.md]
#
# What the TensorBoard stream costs at the default settings: the seed AE (experiments/ae.yaml)
# and the VAE (experiments/vae.yaml), 2 epochs over the 60000 images with the evaluation off,
# run with log.tensorboard true and false in turns (on then off in odd rounds, off then on in
# even ones), so that a shared machine's drift falls on both. Prints (and writes OUT.md) the
# median wall seconds of each, and the difference as a share of the median epoch; and, from the
# runs with the stream on, the seconds the run itself spent writing it (its log says) as a
# share of its epochs' seconds, which a loaded machine slows down alike.
set -euo pipefail
ROUNDS="${ROUNDS:-5}"
BIN="$(realpath "${1:-target/release/ae-runner}")" OUT="${2:-}"
cd "$(dirname "$0")/.."
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
AE=(--set train.epochs=2 --set data.val_size=0 --set eval.probe=false --set eval.knn_k=0
    --set eval.iwae_k=0 --set eval.pictures=false --set eval.gmm_components=0 --set train.threads=1)
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS" >&2
    sides=(true false)
    [ $((r % 2)) = 0 ] && sides=(false true)
    for exp in ae vae; do
        for on in "${sides[@]}"; do
            dir="$TMP/$exp-$on-$r"
            t0=$(date +%s.%N)
            "$BIN" "experiments/$exp.yaml" "${AE[@]}" --set "log.tensorboard=$on" --out "$dir" > /dev/null 2> "$TMP/$exp-$on-$r.log"
            t1=$(date +%s.%N)
            echo "$t0 $t1" > "$dir/wall"
        done
    done
done
python3 - "$TMP" "$ROUNDS" "$BIN" <<'PY' | tee ${OUT:+"$OUT"}
import csv, glob, platform, re, statistics as st, subprocess, sys
tmp, rounds, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"# TensorBoard stream on and off ({rounds} interleaved rounds, {cpu}, 1 thread, at {commit})\n")
print("| model | wall s, on | wall s, off | epoch s (median) | on - off per epoch | share | writing the stream, share of the epochs (median) |")
print("|---|---|---|---|---|---|---|")
for exp in ("ae", "vae"):
    wall, epoch, inside = {}, [], []
    for on in ("true", "false"):
        w = []
        for r in range(1, rounds + 1):
            t0, t1 = map(float, open(f"{tmp}/{exp}-{on}-{r}/wall").read().split())
            w.append(t1 - t0)
            (metrics,) = glob.glob(f"{tmp}/{exp}-{on}-{r}/*/seed=0/metrics.csv")
            secs = [float(row["seconds"]) for row in csv.DictReader(open(metrics))]
            epoch += secs
            if on == "true":
                log = open(f"{tmp}/{exp}-{on}-{r}.log").read()
                spent = float(re.search(r"([0-9.]+) s spent writing it", log).group(1))
                inside.append(spent / sum(secs))
        wall[on] = st.median(w)
    per_epoch = (wall["true"] - wall["false"]) / 2
    e = st.median(epoch)
    print(f"| {exp} | {wall['true']:.2f} | {wall['false']:.2f} | {e:.2f} | {per_epoch:+.3f} s | {100 * per_epoch / e:+.1f}% | {100 * st.median(inside):.2f}% |")
PY
