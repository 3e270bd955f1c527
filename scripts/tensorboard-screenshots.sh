#!/usr/bin/env bash
# Usage: scripts/tensorboard-screenshots.sh [BINARY]
#
# The README's TensorBoard pictures: a KL sweep (experiments/vae-kl-sweep.yaml at kl_weight
# 0.25, 1 and 4, seed 0, 3 epochs, eval.quick) served by `tensorboard --logdir` on a loopback
# port and shot by headless Chromium: its scalars, images and HParams table, into docs/images/.
# Needs scripts/tensorboard-venv.sh's TensorBoard and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-target/release/ae-runner}")"
TMP="$(mktemp -d)"
PORT=6199
trap 'kill "$TB" 2>/dev/null || true; rm -rf "$TMP"' EXIT
"$BIN" experiments/vae-kl-sweep.yaml --out "$TMP" --set train.epochs=3 \
    --set 'sweep={model.kl_weight: [0.25, 1, 4]}' --set eval.quick=true --set train.log_every=50 \
    > "$TMP/sweep.log" 2>&1
target/tensorboard-venv/bin/tensorboard --logdir "$TMP/vae-kl-sweep/tensorboard" --host 127.0.0.1 \
    --port "$PORT" > "$TMP/tensorboard.log" 2>&1 &
TB=$!
until curl -sf "http://127.0.0.1:$PORT/data/runs" | grep -q kl_weight; do sleep 1; done
mkdir -p docs/images
for view in "scalars&tagFilter=val%2F" "images" "hparams"; do
    name="tensorboard-${view%%&*}.png"
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$TMP/chromium-$name" --window-size=1280,800 --virtual-time-budget=15000 \
        --screenshot="docs/images/$name" "http://127.0.0.1:$PORT/#$view" 2> /dev/null
    echo "docs/images/$name"
done
