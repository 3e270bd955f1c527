#!/usr/bin/env bash
# Seconds per epoch of the conv denoising AE (model.arch: conv, channels [32, 64], latent 20,
# gaussian noise 0.5, BCE, batch 128) in aelab beside the same network in PyTorch
# (bench/pytorch/conv_ae.py, data as one tensor), interleaved A B A B, one thread each, on this
# machine's CPU. Writes bench/results/speed-conv.md.   ROUNDS=5 bench/speed-conv.sh
source "$(dirname "$0")/setup.sh"
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS" >&2
    target/release/ae-runner experiments/conv-denoising.yaml --set train.epochs=1 \
        --set 'sweep={train.seed: ['"$r"']}' --set 'cases=[{model.arch: conv}]' \
        --set data.val_size=0 --set eval.probe=false --set eval.knn_k=0 --set eval.pictures=false \
        --out "$TMP/aelab-$r" > /dev/null 2>&1
    (cd bench/pytorch && ../.venv/bin/python conv_ae.py --seed "$r" --out "$TMP/torch-$r.json" > /dev/null)
done
python3 - "$TMP" "$ROUNDS" <<'PY' | tee bench/results/speed-conv.md
import csv, glob, json, statistics as st, sys, platform
tmp, rounds = sys.argv[1], int(sys.argv[2])
def aelab(r):
    path = glob.glob(f"{tmp}/aelab-{r}/conv-denoising/*/metrics.csv")[0]
    return 60000 / float(list(csv.DictReader(open(path)))[0]["images_per_sec"])
def torch(r):
    return json.load(open(f"{tmp}/torch-{r}.json"))["sec_per_epoch"][0]
rows = [("aelab, conv [32, 64] (release, 1 thread)", [aelab(r) for r in range(1, rounds + 1)]),
        ("PyTorch, the same network, data as one tensor (1 thread)", [torch(r) for r in range(1, rounds + 1)])]
base = st.median(rows[0][1])
print(f"Conv denoising AE, batch 128, one epoch over 60000 MNIST images, training loop only; "
      f"{rounds} interleaved rounds on {platform.processor() or platform.machine()}.\n")
print("| loop | s/epoch, median | range | aelab / this |")
print("|---|---|---|---|")
for name, xs in rows:
    print(f"| {name} | {st.median(xs):.2f} | {min(xs):.2f}-{max(xs):.2f} | {base / st.median(xs):.2f} |")
PY
rm -rf "$TMP"
