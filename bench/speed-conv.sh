#!/usr/bin/env bash
# Seconds per epoch of the conv denoising AE (model.arch: conv, channels [32, 64], latent 20,
# gaussian noise 0.5, BCE, batch 128) in aelab beside the same network in PyTorch
# (bench/pytorch/conv_ae.py, data as one tensor), interleaved A B A B, one thread each, on this
# machine's CPU, with both sides' test MSE (a row more than 5% from aelab's is void) and the
# share of the machine's one-thread SGEMM peak each reaches. Writes bench/results/speed-conv.md.
#   ROUNDS=5 bench/speed-conv.sh
# Where the CPU has AVX-512, a second aelab row: the build with `--features avx512` (the gemm
# crate's AVX-512 kernels), in target/avx512.
ROUNDS="${ROUNDS:-5}"
source "$(dirname "$0")/setup.sh"
SIDES=(aelab)
if grep -qw avx512f /proc/cpuinfo; then
    CARGO_TARGET_DIR=target/avx512 cargo build --release -p ae-runner --features avx512
    SIDES+=(avx512)
fi
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS" >&2
    for side in "${SIDES[@]}"; do
        bin=target/release/ae-runner; [ "$side" = avx512 ] && bin=target/avx512/release/ae-runner
        RUST_LOG=info "$bin" experiments/conv-denoising.yaml --set train.epochs=1 \
            --set 'sweep={train.seed: ['"$r"']}' --set 'cases=[{model.arch: conv}]' \
            --set data.val_size=0 --set eval.probe=false --set eval.knn_k=0 --set eval.pictures=false \
            --set eval.gmm_components=0 --set log.tensorboard=false \
            --out "$TMP/$side-$r" > "$TMP/$side-$r.log" 2>&1
    done
    (cd bench/pytorch && ../.venv/bin/python conv_ae.py --seed "$r" --out "$TMP/torch-$r.json" > /dev/null)
done
# The machine's FP32 peak for one thread, as the best SGEMM PyTorch reaches here.
(cd bench/pytorch && ../.venv/bin/python sgemm_peak.py 1 > "$TMP/peak")
python3 - "$TMP" "$ROUNDS" <<'PY' | tee bench/results/speed-conv.md
import csv, glob, json, re, statistics as st, sys, platform
tmp, rounds = sys.argv[1], int(sys.argv[2])
R = range(1, rounds + 1)
def aelab(r, side="aelab"):
    d = glob.glob(f"{tmp}/{side}-{r}/conv-denoising/*/")[0]
    row = list(csv.DictReader(open(f"{d}/metrics.csv")))[0]
    test = list(csv.DictReader(open(f"{d}/test.csv")))[0]
    return 60000 / float(row["images_per_sec"]), float(test["mse"])
def torch(r):
    run = json.load(open(f"{tmp}/torch-{r}.json"))
    return run["sec_per_epoch"][0], run["test_mse"]
# The forward FLOPs aelab counts for the network (its log), times 3 for the forward
# and the two backward products (input and weight gradients).
mflop = float(re.search(r"([0-9.]+) MFLOP per image forward", open(f"{tmp}/aelab-1.log").read()).group(1))
flop = 3 * mflop * 1e6
peak = float(open(f"{tmp}/peak").read())
rows = [("aelab, conv [32, 64] (release, 1 thread)", [aelab(r) for r in R])]
if glob.glob(f"{tmp}/avx512-1"):
    rows.append(("aelab, the same, built with --features avx512", [aelab(r, "avx512") for r in R]))
rows.append(("PyTorch, the same network, data as one tensor (1 thread)", [torch(r) for r in R]))
base = st.median(x[0] for x in rows[-1][1])
base_mse = st.mean(x[1] for x in rows[0][1])
print(f"Conv denoising AE, batch 128, one epoch over 60000 MNIST images, training loop only; "
      f"{rounds} interleaved rounds on {platform.processor() or platform.machine()}. "
      f"{mflop:.2f} MFLOP per image forward, 3x that per training image; one-thread peak "
      f"{peak:.0f} GFLOP/s (the best of 8 PyTorch SGEMMs of 2048x2048).\n")
print("| loop | s/epoch, median | range | time / PyTorch's | test MSE, mean | GFLOP/s | % of peak |")
print("|---|---|---|---|---|---|---|")
for name, xs in rows:
    secs = [x[0] for x in xs]
    med, mse = st.median(secs), st.mean(x[1] for x in xs)
    gflops = 60000 * flop / med / 1e9
    mark = "" if abs(mse / base_mse - 1) <= 0.05 else " (over 5% from aelab: void)"
    print(f"| {name} | {med:.2f} | {min(secs):.2f}-{max(secs):.2f} | {med / base:.2f} | "
          f"{mse:.5f}{mark} | {gflops:.1f} | {100 * gflops / peak:.0f}% |")
PY
rm -rf "$TMP"
