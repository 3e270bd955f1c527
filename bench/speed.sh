#!/usr/bin/env bash
# One epoch of the same training in aelab and in PyTorch 2.x on this CPU, one thread each,
# interleaved round by round (PyTorch's time varies by 2x between runs here): the seed AE
# (784-256-64-20, MSE, Adam 1e-3) at batch 32 and 256, and the VAE (Bernoulli, latent 20) at
# batch 128, over the 60000 training images. PyTorch runs the seed's own DataLoader loop (batch
# 32) and a fast loop (data as one tensor, batches by index). Prints and writes
# bench/results.md: median and range of seconds per epoch, images/s, peak RSS, aelab / PyTorch,
# test MSE of both, achieved GFLOP/s.        ROUNDS=5 bench/speed.sh
ROUNDS="${ROUNDS:-5}"
source "$(dirname "$0")/setup.sh"
AE=(--set train.epochs=1 --set data.val_size=0 --set eval.probe=false --set eval.knn_k=0
    --set eval.iwae_k=0 --set eval.pictures=false --set train.threads=1)
timed() { /usr/bin/time -f "%M" -o "$1" "${@:2}" > /dev/null 2>&1; }
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS" >&2
    for b in 32 256; do
        timed "$TMP/rss-ae$b-$r" target/release/ae-runner experiments/ae.yaml "${AE[@]}" \
            --set "train.batch_size=$b" --set "train.seed=$r" --out "$TMP/ae$b-$r"
        timed "$TMP/rss-fast$b-$r" bash -c "cd bench/pytorch && ../.venv/bin/python seed_ae.py --fast --batch $b --seeds $r --epochs 1 --out $TMP/fast$b-$r.json"
    done
    timed "$TMP/rss-seed32-$r" bash -c "cd bench/pytorch && ../.venv/bin/python seed_ae.py --batch 32 --seeds $r --epochs 1 --out $TMP/seed32-$r.json"
    timed "$TMP/rss-vae-$r" target/release/ae-runner experiments/vae.yaml "${AE[@]}" \
        --set "train.seed=$r" --out "$TMP/vae-$r"
    timed "$TMP/rss-tvae-$r" bash -c "cd bench/pytorch && ../.venv/bin/python seed_vae.py --seeds $r --epochs 1 --out $TMP/tvae-$r.json"
done
python3 - "$TMP" "$ROUNDS" <<'PY' | tee bench/results.md
import csv, glob, json, statistics as st, sys, platform
tmp, rounds = sys.argv[1], int(sys.argv[2])
R = range(1, rounds + 1)
def aelab(name, r):
    d = glob.glob(f"{tmp}/{name}-{r}/*/seed={r}")[0]
    row = list(csv.DictReader(open(f"{d}/metrics.csv")))[0]
    test = list(csv.DictReader(open(f"{d}/test.csv")))[0]
    return 60000 / float(row["images_per_sec"]), float(test["mse"])
def torch(name, r):
    run = json.load(open(f"{tmp}/{name}-{r}.json"))["runs"][0]
    return run["sec_per_epoch"][0], run["test_mse"][0]
def rss(name, r):
    return int(open(f"{tmp}/rss-{name}-{r}").read().split()[-1]) / 1024
# Forward FLOPs per image (2 x multiply-adds of every layer), times 3 for forward + backward.
AE_FLOP = 3 * 2 * 2 * (784 * 256 + 256 * 64 + 64 * 20)
VAE_FLOP = 3 * 2 * (784 * 256 + 256 * 64 + 64 * 40 + 20 * 64 + 64 * 256 + 256 * 784)
rows = [
    ("seed AE, batch 32", "aelab", [aelab("ae32", r) for r in R], "ae32", AE_FLOP),
    ("seed AE, batch 32", "PyTorch, the seed's DataLoader loop", [torch("seed32", r) for r in R], "seed32", AE_FLOP),
    ("seed AE, batch 32", "PyTorch, fast loop", [torch("fast32", r) for r in R], "fast32", AE_FLOP),
    ("seed AE, batch 256", "aelab", [aelab("ae256", r) for r in R], "ae256", AE_FLOP),
    ("seed AE, batch 256", "PyTorch, fast loop", [torch("fast256", r) for r in R], "fast256", AE_FLOP),
    ("VAE, batch 128", "aelab", [aelab("vae", r) for r in R], "vae", VAE_FLOP),
    ("VAE, batch 128", "PyTorch, fast loop", [torch("tvae", r) for r in R], "tvae", VAE_FLOP),
]
print(f"One epoch over 60000 MNIST images, training loop only, 1 thread on each side, {rounds} rounds "
      f"interleaved on {platform.processor() or platform.machine()} ({platform.node()}).\n")
print("| job | loop | s/epoch, median | range | images/s | peak RSS MB | aelab / this | test MSE, mean | GFLOP/s |")
print("|---|---|---|---|---|---|---|---|---|")
base = {}
for job, loop, xs, key, flop in rows:
    secs = [x[0] for x in xs]
    med = st.median(secs)
    if loop == "aelab":
        base[job] = med
    mse = st.mean(x[1] for x in xs)
    peak = max(rss(key, r) for r in R)
    print(f"| {job} | {loop} | {med:.2f} | {min(secs):.2f}-{max(secs):.2f} | {60000 / med:.0f} | {peak:.0f} | "
          f"{base[job] / med:.2f} | {mse:.5f} | {60000 * flop / med / 1e9:.1f} |")
PY
rm -rf "$TMP"
