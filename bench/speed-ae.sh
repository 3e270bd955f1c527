#!/usr/bin/env bash
# Seconds per epoch of experiments/ae.yaml (aelab, release build) beside PyTorch running the
# seed's own loop (DataLoader) and a fast loop (data as one tensor), interleaved A B C A B C on
# this machine, one thread each. Writes bench/results/speed-ae.md.
#   bench/speed-ae.sh            (ROUNDS=5 bench/speed-ae.sh for more rounds)
source "$(dirname "$0")/setup.sh"
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS" >&2
    target/release/ae-runner experiments/ae.yaml --set train.epochs=1 --set train.test_each_epoch=false \
        --set "train.seed=$r" --out "$TMP/aelab-$r" > /dev/null 2>&1
    (cd bench/pytorch && ../.venv/bin/python seed_ae.py --seeds "$r" --epochs 1 --out "$TMP/seed-$r.json" > /dev/null)
    (cd bench/pytorch && ../.venv/bin/python seed_ae.py --fast --seeds "$r" --epochs 1 --out "$TMP/fast-$r.json" > /dev/null)
done
python3 - "$TMP" "$ROUNDS" <<'PY' | tee bench/results/speed-ae.md
import csv, json, statistics as st, sys, platform
tmp, rounds = sys.argv[1], int(sys.argv[2])
def aelab(r):
    row = list(csv.DictReader(open(f"{tmp}/aelab-{r}/ae/seed={r}/metrics.csv")))[0]
    return 60000 / float(row["images_per_sec"])
def torch(kind, r):
    return json.load(open(f"{tmp}/{kind}-{r}.json"))["runs"][0]["sec_per_epoch"][0]
rows = [("aelab (experiments/ae.yaml, release, 1 thread)", [aelab(r) for r in range(1, rounds + 1)]),
        ("PyTorch, the seed's DataLoader loop (1 thread)", [torch("seed", r) for r in range(1, rounds + 1)]),
        ("PyTorch, data as one tensor, batches by index (1 thread)", [torch("fast", r) for r in range(1, rounds + 1)])]
base = st.median(rows[0][1])
print(f"Seed AE (784-256-64-20, MSE, Adam 1e-3), batch 32, one epoch over 60000 images, training loop only; "
      f"{rounds} interleaved rounds on {platform.processor() or platform.machine()}.\n")
print("| loop | s/epoch, median | range | aelab / this |")
print("|---|---|---|---|")
for name, xs in rows:
    print(f"| {name} | {st.median(xs):.2f} | {min(xs):.2f}-{max(xs):.2f} | {base / st.median(xs):.2f} |")
PY
rm -rf "$TMP"
