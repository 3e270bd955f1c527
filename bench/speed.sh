#!/usr/bin/env bash
# One epoch of the same training in aelab and in PyTorch 2.x on this CPU, one thread each,
# interleaved round by round (PyTorch's time varies by 2x between runs here): the seed AE
# (784-256-64-20, MSE, Adam 1e-3) at batch 32 and 256, and the VAE (Bernoulli, latent 20) at
# batch 128, over the 60000 training images. PyTorch runs the seed's own DataLoader loop (batch
# 32), a fast loop (data as one tensor, batches by index) and the fast loop under torch.compile
# (compiled and warmed up before the clock starts). Then instruction counts (callgrind) per
# training step at batch 32, from the same short run at two lengths. Prints and writes
# bench/results.md: median and range of seconds per epoch, images/s, peak RSS, aelab / PyTorch,
# test MSE of both, achieved GFLOP/s against the machine's single-thread SGEMM peak.
#     ROUNDS=5 bench/speed.sh          CALLGRIND=0 skips the instruction counts
ROUNDS="${ROUNDS:-5}"
source "$(dirname "$0")/setup.sh"
trap 'echo "bench/speed.sh: failed: $BASH_COMMAND" >&2' ERR
THREADS=1
AE=(--set train.epochs=1 --set data.val_size=0 --set eval.probe=false --set eval.knn_k=0
    --set eval.iwae_k=0 --set eval.pictures=false --set "train.threads=$THREADS")
PY=(../.venv/bin/python)
timed() { /usr/bin/time -f "%M" -o "$1" "${@:2}" > /dev/null 2>&1; }
torch_run() { # rss-file script args...: one PyTorch process from bench/pytorch
    (cd bench/pytorch && timed "$TMP/rss-$1" "${PY[@]}" "${@:2}" --threads "$THREADS")
}
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS" >&2
    for b in 32 256; do
        timed "$TMP/rss-ae$b-$r" target/release/ae-runner experiments/ae.yaml "${AE[@]}" \
            --set "train.batch_size=$b" --set "train.seed=$r" --out "$TMP/ae$b-$r"
        torch_run "fast$b-$r" seed_ae.py --fast --batch "$b" --seeds "$r" --epochs 1 --out "$TMP/fast$b-$r.json"
        torch_run "comp$b-$r" seed_ae.py --fast --compile --batch "$b" --seeds "$r" --epochs 1 --out "$TMP/comp$b-$r.json"
    done
    torch_run "seed32-$r" seed_ae.py --batch 32 --seeds "$r" --epochs 1 --out "$TMP/seed32-$r.json"
    timed "$TMP/rss-vae-$r" target/release/ae-runner experiments/vae.yaml "${AE[@]}" \
        --set "train.seed=$r" --out "$TMP/vae-$r"
    torch_run "tvae-$r" seed_vae.py --seeds "$r" --epochs 1 --out "$TMP/tvae-$r.json"
    torch_run "cvae-$r" seed_vae.py --compile --seeds "$r" --epochs 1 --out "$TMP/cvae-$r.json"
done

# Instruction counts: valgrind hides AVX-512 from the program, so both sides run their AVX2
# code here, and emulates FMA slowly (minutes per run). The same run with 160 and 480 training
# images and 100 test images: the difference is 10 steps.
if [ "${CALLGRIND:-1}" = 1 ]; then
    echo "instruction counts (callgrind, a few minutes)" >&2
    for n in 160 480; do
        valgrind --tool=callgrind --callgrind-out-file="$TMP/cg-aelab-$n" \
            target/release/ae-runner experiments/ae.yaml "${AE[@]}" --set train.batch_size=32 \
            --set data.train_limit=$n --set data.test_limit=100 --out "$TMP/cg-run-$n" > /dev/null 2>&1
        (cd bench/pytorch && valgrind --tool=callgrind --callgrind-out-file="$TMP/cg-torch-$n" \
            "${PY[@]}" seed_ae.py --fast --batch 32 --seeds 0 --epochs 1 --limit $n --test-limit 100 \
            --threads "$THREADS" > /dev/null 2>&1)
    done
    for f in "$TMP"/cg-aelab-* "$TMP"/cg-torch-*; do
        callgrind_annotate --inclusive=no --auto=no --threshold=100 "$f" > "$f.txt" 2>/dev/null
    done
fi

# The machine's FP32 peak for one thread, as the best SGEMM PyTorch reaches here.
(cd bench/pytorch && "${PY[@]}" sgemm_peak.py "$THREADS" > "$TMP/peak")

python3 - "$TMP" "$ROUNDS" "$THREADS" <<'PY' | tee bench/results.md
import csv, glob, json, os, re, statistics as st, sys, platform
tmp, rounds, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3]
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
FAST, COMP = "PyTorch, fast loop", "PyTorch, fast loop + torch.compile"
rows = [
    ("seed AE, batch 32", "aelab", [aelab("ae32", r) for r in R], "ae32", AE_FLOP),
    ("seed AE, batch 32", "PyTorch, the seed's DataLoader loop", [torch("seed32", r) for r in R], "seed32", AE_FLOP),
    ("seed AE, batch 32", FAST, [torch("fast32", r) for r in R], "fast32", AE_FLOP),
    ("seed AE, batch 32", COMP, [torch("comp32", r) for r in R], "comp32", AE_FLOP),
    ("seed AE, batch 256", "aelab", [aelab("ae256", r) for r in R], "ae256", AE_FLOP),
    ("seed AE, batch 256", FAST, [torch("fast256", r) for r in R], "fast256", AE_FLOP),
    ("seed AE, batch 256", COMP, [torch("comp256", r) for r in R], "comp256", AE_FLOP),
    ("VAE, batch 128", "aelab", [aelab("vae", r) for r in R], "vae", VAE_FLOP),
    ("VAE, batch 128", FAST, [torch("tvae", r) for r in R], "tvae", VAE_FLOP),
    ("VAE, batch 128", COMP, [torch("cvae", r) for r in R], "cvae", VAE_FLOP),
]
peak = float(open(f"{tmp}/peak").read())
mhz = max(float(l.split(":")[1]) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz"))
print(f"One epoch over 60000 MNIST images, training loop only, {threads} thread(s) on each side "
      f"(train.threads and torch.set_num_threads), {rounds} rounds interleaved on "
      f"{platform.processor() or platform.machine()} ({platform.node()}), {os.cpu_count()} CPUs.\n")
print(f"Machine peak for {threads} thread(s): {peak:.0f} GFLOP/s, the best of 8 PyTorch SGEMMs "
      f"of 2048x2048 (nominal, assuming two 8-wide FMA pipes: {mhz:.0f} MHz x 32 FP32 FLOP per cycle = {mhz * 32 / 1000:.0f} GFLOP/s per core).\n")
print("| job | loop | s/epoch, median | range | images/s | peak RSS MB | aelab / this | test MSE, mean | GFLOP/s | % of peak |")
print("|---|---|---|---|---|---|---|---|---|---|")
base = {}
for job, loop, xs, key, flop in rows:
    secs = [x[0] for x in xs]
    med = st.median(secs)
    if loop == "aelab":
        base[job] = (med, st.mean(x[1] for x in xs))
    mse = st.mean(x[1] for x in xs)
    gflops = 60000 * flop / med / 1e9
    mark = "" if abs(mse / base[job][1] - 1) <= 0.05 else " (over 5% from aelab: void)"
    print(f"| {job} | {loop} | {med:.2f} | {min(secs):.2f}-{max(secs):.2f} | {60000 / med:.0f} | "
          f"{max(rss(key, r) for r in R):.0f} | {base[job][0] / med:.2f} | {mse:.5f}{mark} | "
          f"{gflops:.1f} | {100 * gflops / peak:.0f}% |")

def counts(side):
    """Per-step instructions, and per function, from the runs of 160 and 480 images."""
    def read(n):
        text = open(f"{tmp}/cg-{side}-{n}.txt").read()
        total = int(re.search(r"^([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", text, re.M)[1].replace(",", ""))
        fns = {}
        table = text.split("file:function")[1].split("\n\n")[0]
        for m in re.finditer(r"^\s*([\d,]+) \([ \d.]+%\)\s+(\S.*)$", table, re.M):
            name = m[2].split(":", 1)[-1].split(" [")[0]
            fns[name] = fns.get(name, 0) + int(m[1].replace(",", ""))
        return total, fns
    (t1, f1), (t2, f2) = read(160), read(480)
    per_fn = {k: (f2.get(k, 0) - f1.get(k, 0)) / 10 for k in f2}
    return (t2 - t1) / 10, sorted(per_fn.items(), key=lambda kv: -kv[1])
if glob.glob(f"{tmp}/cg-aelab-480.txt"):
    a, t = counts("aelab"), counts("torch")
    print(f"\nInstructions per training step, seed AE at batch 32 (callgrind; the same run with 160 "
          f"and 480 images, difference over 10 steps; AVX2 code on both sides under valgrind):\n")
    print(f"| | aelab | PyTorch fast loop | aelab / PyTorch |\n|---|---|---|---|")
    print(f"| instructions per step | {a[0] / 1e6:.2f} M | {t[0] / 1e6:.2f} M | {a[0] / t[0]:.2f} |")
    for side, (total, fns) in (("aelab", a), ("PyTorch fast loop", t)):
        print(f"\n{side}, where a step's instructions go (top 8 functions, self):\n")
        print("| function | M instructions per step | share |\n|---|---|---|")
        for name, n in fns[:8]:
            print(f"| `{name[:90].replace('|', '/')}` | {n / 1e6:.2f} | {100 * n / total:.0f}% |")
PY
rm -rf "$TMP"
