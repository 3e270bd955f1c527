#!/usr/bin/env bash
# Usage: ROUNDS=5 bench/binaries.sh OLD NEW [OUT.md]
#
# Whether a change made the MLPs slower: bench/speed.sh's aelab rows (one epoch over the
# 60000 images: the seed AE at batch 32 and 256, the VAE at batch 128), with 1 and 2 threads,
# run by two ae-runner binaries in turns (OLD then NEW in odd rounds, NEW then OLD in even
# ones), so that the drift of a shared machine falls on both. Prints (and writes OUT.md) the
# median and range of seconds per epoch of the training loop and NEW / OLD per row.
#   cargo build --release -p ae-runner && cp target/release/ae-runner /tmp/new
#   ROUNDS=5 bench/binaries.sh /tmp/old /tmp/new bench/results/binaries.md
set -euo pipefail
ROUNDS="${ROUNDS:-5}"
OLD="$(realpath "$1")" NEW="$(realpath "$2")" OUT="${3:-}"
cd "$(dirname "$0")/.."
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
AE=(--set train.epochs=1 --set data.val_size=0 --set eval.probe=false --set eval.knn_k=0
    --set eval.iwae_k=0 --set eval.pictures=false)
ROWS=("ae32 experiments/ae.yaml train.batch_size=32" "ae256 experiments/ae.yaml train.batch_size=256"
      "vae experiments/vae.yaml train.batch_size=128")
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS" >&2
    sides=(old new)
    [ $((r % 2)) = 0 ] && sides=(new old)
    for threads in 1 2; do
        for row in "${ROWS[@]}"; do
            read -r name file batch <<< "$row"
            for side in "${sides[@]}"; do
                bin="$OLD"; [ "$side" = new ] && bin="$NEW"
                "$bin" "$file" "${AE[@]}" --set "$batch" --set "train.threads=$threads" \
                    --set "train.seed=$r" --out "$TMP/$side-$name-t$threads-$r" > /dev/null 2>&1
            done
        done
    done
done
python3 - "$TMP" "$ROUNDS" "$OLD" "$NEW" <<'PY' | tee ${OUT:+"$OUT"}
import csv, glob, os, platform, statistics as st, sys
tmp, rounds, old, new = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def secs(side, name, t):
    out = []
    for r in range(1, rounds + 1):
        d = glob.glob(f"{tmp}/{side}-{name}-t{t}-{r}/*/seed={r}")[0]
        row = list(csv.DictReader(open(f"{d}/metrics.csv")))[0]
        out.append(60000 / float(row["images_per_sec"]))
    return out
jobs = {"ae32": "seed AE, batch 32", "ae256": "seed AE, batch 256", "vae": "VAE, batch 128"}
print(f"Training loop, one epoch over 60000 MNIST images, {rounds} rounds interleaved on "
      f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
      f"OLD {old}, NEW {new}.\n")
print("| job | threads | OLD s/epoch, median (range) | NEW s/epoch, median (range) | NEW / OLD |")
print("|---|---|---|---|---|")
for t in (1, 2):
    for name, job in jobs.items():
        o, n = secs("old", name, t), secs("new", name, t)
        print(f"| {job} | {t} | {st.median(o):.2f} ({min(o):.2f}-{max(o):.2f}) | "
              f"{st.median(n):.2f} ({min(n):.2f}-{max(n):.2f}) | {st.median(n) / st.median(o):.3f} |")
PY
