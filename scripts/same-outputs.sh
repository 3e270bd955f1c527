#!/usr/bin/env bash
# Usage: scripts/same-outputs.sh run BINARY OUTDIR | compare DIR_A DIR_B | --help
#
# Proof that a restructured ae-runner writes the same results as before:
#   run BINARY OUTDIR     every experiments/*.yaml, shrunk (1 epoch, small sizes; the
#                         overrides are in OVERRIDES below), run with BINARY into OUTDIR
#                         (which must be absent or empty: finished runs would be skipped)
#   compare DIR_A DIR_B   every run folder (one with run.json) of either tree: metrics.csv
#                         without its timing columns (seconds, images_per_sec), test.csv and
#                         eval.csv byte for byte, and the same set of run folders in both;
#                         one line per differing or missing file, then a total; exit 1 on
#                         any difference
# Typical use:
#   scripts/same-outputs.sh run /path/to/old/ae-runner /tmp/old
#   scripts/same-outputs.sh run target/release/ae-runner /tmp/new
#   scripts/same-outputs.sh compare /tmp/old /tmp/new
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# The overrides, the only place they are set. COMMON applies to every experiment; a
# per-experiment entry adds keys or replaces COMMON's, and `KEY=` (nothing after the `=`)
# drops a COMMON key so that the YAML's own value stays. Every run of every sweep is kept
# (122 runs); sizes are lowered instead.
COMMON=(
    train.epochs=1
    data.train_limit=1500
    data.val_size=300
    data.test_limit=500
    eval.fit_images=500
    eval.iwae_images=100
)
declare -A OVERRIDES=(
    # val_size: 0 in the file: keep it (no validation split, a code path of its own).
    [ae]="data.val_size="
    # One digit per run (data.classes, swept): train_limit 1500 of its ~6000 images, the test
    # set filtered to that digit (500 of them); the anomaly eval scores the first 500 of all.
    [anomaly]="data.val_size="
    # The file's IWAE bound is k = 5000 on all 10000 test images: k = 100 on 100 instead.
    [vae-nll]="data.val_size= eval.iwae_k=100"
)

# The --set arguments for experiment NAME, one per line.
overrides() {
    local name=$1 kv key
    local -A set=()
    local -a order=()
    local -a extra=()
    read -ra extra <<<"${OVERRIDES[$name]:-}"
    for kv in "${COMMON[@]}" "${extra[@]}"; do
        key=${kv%%=*}
        [[ -v "set[$key]" ]] || order+=("$key")
        set[$key]=${kv#*=}
    done
    for key in "${order[@]}"; do
        [[ -n ${set[$key]} ]] && printf '%s=%s\n' "$key" "${set[$key]}"
    done
    return 0
}

die() {
    echo "same-outputs: $*" >&2
    exit 2
}

cmd_run() {
    [[ $# -eq 2 ]] || die "run needs BINARY OUTDIR (see --help)"
    local binary out
    binary=$(realpath -e -- "$1") || die "no binary at $1"
    [[ -x $binary ]] || die "$binary is not executable"
    out=$(realpath -m -- "$2")
    if [[ -d $out ]] && [[ -n $(ls -A -- "$out") ]]; then
        die "$out is not empty: its finished runs would be skipped, not run again"
    fi
    mkdir -p -- "$out/_logs"
    cd -- "$(dirname -- "$(realpath -e -- "${BASH_SOURCE[0]}")")/.."
    local -a files=(experiments/*.yaml)
    [[ -e ${files[0]} ]] || die "no experiments/*.yaml in $PWD"
    local f name kv t0 rc log
    local -a args
    for f in "${files[@]}"; do
        name=$(basename -- "$f" .yaml)
        args=()
        while IFS= read -r kv; do
            args+=(--set "$kv")
        done < <(overrides "$name")
        log="$out/_logs/$name.log"
        t0=$SECONDS
        printf '%-24s %s\n' "$name" "${args[*]}" >"$log"
        rc=0
        RUST_LOG=warn "$binary" "$f" "${args[@]}" --out "$out" >>"$log" 2>&1 || rc=$?
        if [[ $rc -ne 0 ]]; then
            tail -n 20 -- "$log" >&2
            echo "same-outputs: experiment $name ($f) failed with exit code $rc; log: $log" >&2
            exit 1
        fi
        printf '%-24s %4ds  %s\n' "$name" $((SECONDS - t0)) "${args[*]}"
    done
    echo "all ${#files[@]} experiments ran into $out (logs in $out/_logs)"
}

cmd_compare() {
    [[ $# -eq 2 ]] || die "compare needs DIR_A DIR_B (see --help)"
    [[ -d $1 ]] || die "no directory $1"
    [[ -d $2 ]] || die "no directory $2"
    python3 - "$1" "$2" <<'PY'
import csv, io, os, sys

TIMING = {"seconds", "images_per_sec"}
FILES = ("metrics.csv", "test.csv", "eval.csv")
a_root, b_root = sys.argv[1], sys.argv[2]

def runs(root):
    found = set()
    for d, _, files in os.walk(root):
        if "run.json" in files:
            found.add(os.path.relpath(d, root))
    return found

def without_timing(data):
    """metrics.csv with the timing columns (found by header name) removed: its text and rows.
    Fields are split at commas, so the rest stays byte for byte; a file with quoted fields
    goes through the csv module instead."""
    text = data.decode("utf-8")
    quoted = '"' in text
    if quoted:
        table = list(csv.reader(io.StringIO(text, newline="")))
    else:
        table = [line.split(",") for line in text.split("\n")]
    drop = {i for i, h in enumerate(table[0]) if h in TIMING} if table else set()
    kept = [[v for i, v in enumerate(r) if i not in drop] for r in table]
    if quoted:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        return out.getvalue().encode(), kept
    return "\n".join(",".join(r) for r in kept).encode(), kept

def shown(v):
    return v if v and v.strip() == v else repr(v)

def first_difference(ka, kb):
    header = ka[0] if ka else []
    for n, (ra, rb) in enumerate(zip(ka, kb)):
        if ra != rb:
            for i, (va, vb) in enumerate(zip(ra, rb)):
                if va != vb:
                    col = header[i] if n > 0 and i < len(header) else f"field {i + 1}"
                    return f"line {n + 1}, {col}: {shown(va)} vs {shown(vb)}"
            return f"line {n + 1}: {len(ra)} vs {len(rb)} fields"
    return f"{len(ka)} vs {len(kb)} lines"

ra, rb = runs(a_root), runs(b_root)
problems = compared = 0
for run in sorted(ra | rb):
    if run not in rb:
        print(f"run only in {a_root}: {run}"); problems += 1; continue
    if run not in ra:
        print(f"run only in {b_root}: {run}"); problems += 1; continue
    for name in FILES:
        pa, pb = (os.path.join(r, run, name) for r in (a_root, b_root))
        ea, eb = os.path.isfile(pa), os.path.isfile(pb)
        if not ea and not eb:
            continue
        if ea != eb:
            print(f"missing in {b_root if ea else a_root}: {os.path.join(run, name)}")
            problems += 1
            continue
        compared += 1
        with open(pa, "rb") as fa, open(pb, "rb") as fb:
            da, db = fa.read(), fb.read()
        if name == "metrics.csv":
            (da, ka), (db, kb) = without_timing(da), without_timing(db)
            if da != db:
                print(f"differs: {os.path.join(run, name)} (timing columns removed; "
                      f"{first_difference(ka, kb)})")
                problems += 1
        elif da != db:
            la, lb = da.decode().split("\n"), db.decode().split("\n")
            ka = [l.split(",") for l in la]
            kb = [l.split(",") for l in lb]
            print(f"differs: {os.path.join(run, name)} ({first_difference(ka, kb)})")
            problems += 1
n_runs = len(ra | rb)
verdict = "all identical" if problems == 0 else f"{problems} differ"
print(f"compared {compared} files in {n_runs} runs: {verdict}")
sys.exit(1 if problems else 0)
PY
}

case ${1:-} in
    run) shift; cmd_run "$@" ;;
    compare) shift; cmd_compare "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
