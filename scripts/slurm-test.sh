#!/usr/bin/env bash
# Runs a small sweep as a Slurm job array on a real single-node cluster (Debian's slurm-wlm,
# started by scripts/slurm-local.sh) and checks that the merged summary equals the summary of
# the same sweep run in one process (all columns but the timing). Needs root; used by .ci/run.
#   scripts/slurm-test.sh [path/to/ae-runner]   (default: target/release/ae-runner)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-target/release/ae-runner}")"
[ -x "$BIN" ] || { echo "slurm-test: no $BIN (build it first)" >&2; exit 1; }
export SLURM_LOCAL_DIR="${SLURM_LOCAL_DIR:-/tmp/aelab-slurm}"
scripts/slurm-local.sh start
trap 'scripts/slurm-local.sh stop' EXIT
eval "$(scripts/slurm-local.sh env)"

TMP="$(mktemp -d /tmp/aelab-slurm-test.XXXXXX)"
cp ae-runner/tests/fixtures/tiny-sweep.yaml "$TMP/tiny.yaml"

"$BIN" "$TMP/tiny.yaml" --out "$TMP/one" > "$TMP/one.log" 2>&1
"$BIN" slurm "$TMP/tiny.yaml" --out "$TMP/slurm" --shards 2
bash "$TMP/slurm/tiny/slurm/submit.sh" | tee "$TMP/submit.log"
deadline=$(( SECONDS + 600 ))
while [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "slurm-test: jobs still queued after 600 s" >&2; squeue >&2; exit 1; }
    sleep 2
done
cat "$SLURM_LOCAL_DIR/log/jobcomp.log" || true

python3 - "$TMP/one/tiny/summary.csv" "$TMP/slurm/tiny/summary.csv" <<'PY'
import csv, sys
def rows(path):
    with open(path) as f:
        r = list(csv.DictReader(f))
    for row in r:
        row.pop("seconds", None)
        row.pop("epoch_seconds", None)
    return r
one, merged = rows(sys.argv[1]), rows(sys.argv[2])
assert len(one) == 4, one
assert all(r["status"] == "finished" for r in merged), merged
assert one == merged, f"summaries differ:\n{one}\n{merged}"
print(f"slurm-test: the array's merged summary equals the one-process summary ({len(one)} runs)")
PY
rm -rf "$TMP"
