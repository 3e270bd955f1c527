#!/usr/bin/env bash
# (From the team's shared scripts, kept here so that CI needs nothing outside the repo.)
# cuda-check.sh — type-check (`cargo check`) a Cargo workspace with candle's
# `cuda` feature on a machine that has NO GPU and NO CUDA toolkit, so code
# behind #[cfg(feature = "cuda")] cannot rot. Nothing is linked or run; for a
# real CUDA binary use cuda-build.sh.
#
# Usage (from anywhere inside the workspace):
#   cuda-check.sh                        # cargo check --workspace --all-targets --features cuda
#   cuda-check.sh --offline -p ae-runner --features ae-runner/cuda
#   CUDA_FEATURES=gpu cuda-check.sh      # other feature name
# Every argument goes to `cargo check`. Added only when missing:
#   --workspace      (no -p/--package/--workspace/--all given)
#   --all-targets    (no --lib/--bin(s)/--example(s)/--test(s)/--bench(es)/--all-targets given)
#   --features cuda  (no --features/-F/--all-features given)
#
# How (the slow part of a CUDA check is candle-kernels' build script, which
# runs nvcc on every kernel, ~10 min; none of it matters to the type checker):
#   1. Reads the candle-kernels version from the workspace's Cargo.lock.
#   2. Makes a stub copy of that candle-kernels under $CUDA_CHECK_DIR: the same
#      name, version, Rust API (Module/Id/ALL_IDS/the PTX consts/ffi), but no
#      build script; each PTX constant is "".
#   3. Runs cargo with that stub patched in on the command line
#      (`--config patch.crates-io.candle-kernels.path=...`), so no Cargo.toml
#      changes, and with CUDARC_CUDA_VERSION (cudarc would otherwise run
#      `nvcc --version` to choose its bindings).
#   4. Cargo rewrites Cargo.lock for the patch; the script puts the original
#      back on exit (and removes a Cargo.lock it had to create).
#   5. (aelab) cudarc is patched as scripts/cuda-build.sh patches it (dynamic
#      loading, scripts/cudarc-dynload.sh), so CI type-checks what ships.
#
# Environment knobs (all optional):
#   CUDA_CHECK_DIR       stub cache dir           (default $HOME/.cache/cuda-check)
#   CUDA_FEATURES        default feature spec     (default "cuda"; empty = add none)
#   CUDARC_CUDA_VERSION  CUDA API to check against (default 13000 = CUDA 13.0, as cuda-build.sh)
#   NICE                 niceness of cargo        (default 10)
#   CARGO, CARGO_HOME    as for cargo itself
set -euo pipefail

STUB_FORMAT=1   # bump when the stub recipe below changes: cached stubs are remade
CUDA_CHECK_DIR=${CUDA_CHECK_DIR:-${HOME:?set HOME or CUDA_CHECK_DIR}/.cache/cuda-check}
CUDA_FEATURES=${CUDA_FEATURES-cuda}
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
NICE=${NICE:-10}
CARGO=${CARGO:-cargo}
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}

log() { printf '[cuda-check] %s\n' "$*" >&2; }
die() { printf '[cuda-check] ERROR: %s\n' "$*" >&2; exit 1; }
T0=$SECONDS

# ------------------------------------------------------------- arguments ---
args=() have_pkg=0 have_tgt=0 have_feat=0 locked=0 offline=()
for a in "$@"; do
  case $a in
    # The patch must rewrite Cargo.lock, which --locked/--frozen forbid: check
    # the lock (unpatched) below instead, then run cargo without them.
    --locked) locked=1; continue ;;
    --frozen) locked=1; offline=(--offline); a=--offline ;;
    --offline) offline=(--offline) ;;
    -p|-p?*|--package|--package=*|--workspace|--all) have_pkg=1 ;;
    --lib|--bin|--bin=*|--bins|--example|--example=*|--examples|--test|--test=*|--tests|\
    --bench|--bench=*|--benches|--all-targets) have_tgt=1 ;;
    --features|--features=*|-F|-F?*|--all-features) have_feat=1 ;;
  esac
  args+=("$a")
done
(( have_pkg )) || args=(--workspace "${args[@]}")
(( have_tgt )) || args+=(--all-targets)
(( have_feat )) || [[ -z $CUDA_FEATURES ]] || args+=(--features "$CUDA_FEATURES")

# ------------------------------------------------ Cargo.lock: save/restore ---
root=$("$CARGO" locate-project --workspace --message-format plain) || die "not inside a Cargo workspace"
lock=$(dirname "$root")/Cargo.lock
mkdir -p "$CUDA_CHECK_DIR" && CUDA_CHECK_DIR=$(cd "$CUDA_CHECK_DIR" && pwd)   # the patch path must be absolute
if (( locked )); then   # the check --locked would do: is Cargo.lock up to date?
  "$CARGO" metadata --locked "${offline[@]}" --format-version 1 >/dev/null
fi
had_lock=0 saved=
if [[ -f $lock ]]; then
  had_lock=1 saved=$(mktemp "$CUDA_CHECK_DIR/Cargo.lock.XXXXXX")
  cp "$lock" "$saved"
fi
# shellcheck disable=SC2317  # called from the EXIT trap
restore() {
  if (( had_lock )); then cat "$saved" >"$lock" && rm -f "$saved"; else rm -f "$lock"; fi
}
trap restore EXIT
trap 'exit 130' INT; trap 'exit 143' TERM HUP   # the EXIT trap runs on Ctrl-C / CI timeouts too
(( had_lock )) || "$CARGO" generate-lockfile "${offline[@]}"

# ------------------------------------------- 1. which candle-kernels version ---
# A [[package]] block lists name, version, then source; keep registry copies only.
mapfile -t versions < <(awk '
  /^\[\[package\]\]/ { n = ""; v = "" }
  /^name = /    { n = $3 }
  /^version = / { v = $3 }
  /^source = "registry\+/ && n == "\"candle-kernels\"" { gsub(/"/, "", v); print v }' "$lock" | sort -u)
(( ${#versions[@]} <= 1 )) || die "several candle-kernels versions in Cargo.lock (${versions[*]}): one patch cannot cover them"

patch=()
if (( ${#versions[@]} == 0 )); then
  log "no candle-kernels from the registry in Cargo.lock (not a dependency, or already patched): plain check"
else
  ver=${versions[0]}
  stub=$CUDA_CHECK_DIR/candle-kernels-$ver
  # ----------------------------------------------- 2. the stub crate (cached) ---
  if [[ $(cat "$stub/.cuda-check-stub" 2>/dev/null) != "$STUB_FORMAT" ]]; then
    find_src() { compgen -G "$CARGO_HOME/registry/src/*/candle-kernels-$ver" | head -n1 || true; }
    find_crate() { compgen -G "$CARGO_HOME/registry/cache/*/candle-kernels-$ver.crate" | head -n1 || true; }
    if [[ -z $(find_src) && -z $(find_crate) ]]; then
      log "candle-kernels $ver is not in cargo's cache: cargo fetch"
      nice -n "$NICE" "$CARGO" fetch "${offline[@]}"
    fi
    tmp=$(mktemp -d "$CUDA_CHECK_DIR/.stub.XXXXXX") && chmod 755 "$tmp"
    if src=$(find_src) && [[ -n $src ]]; then cp -R "$src/." "$tmp/"
    elif crate=$(find_crate) && [[ -n $crate ]]; then tar -xzf "$crate" -C "$tmp" --strip-components=1
    else die "candle-kernels $ver not found under $CARGO_HOME/registry"; fi
    rm -f "$tmp/build.rs"
    # Manifest: no build script, no build-dependencies (cudaforge), no `links`.
    awk '/^\[/ { skip = ($0 ~ /^\[build-dependencies/) }
         skip { next }
         /^build = / { print "build = false"; next }
         /^links = / { next }
         { print }' "$tmp/Cargo.toml" >"$tmp/Cargo.toml.new"
    mv "$tmp/Cargo.toml.new" "$tmp/Cargo.toml"
    # Sources: the PTX that build.rs writes to OUT_DIR becomes empty strings.
    # 0.11: lib.rs has `mod ptx { include!(concat!(env!("OUT_DIR"), "/ptx.rs")); }`
    # with one const per mdl!(NAME, Id); older releases include_str! each .ptx.
    names=$( { grep -ohE '^mdl!\([A-Z0-9_]+' "$tmp"/src/*.rs | sed 's/^mdl!(//'
               for f in "$tmp"/src/*.cu; do [[ -e $f ]] && basename "$f" .cu | tr '[:lower:]' '[:upper:]'; done; true; } | sort -u)
    for n in $names; do printf '#[allow(dead_code)]\npub const %s: &str = "";\n' "$n"; done >"$tmp/src/ptx_stub.rs"
    sed -i -E -e 's|include!\(concat!\(env!\("OUT_DIR"\), *"/ptx\.rs"\)\)|include!("ptx_stub.rs")|' \
              -e 's|include_str!\(concat!\(env!\("OUT_DIR"\), *"/[^"]*"\)\)|""|g' "$tmp"/src/*.rs
    if grep -l 'OUT_DIR' "$tmp"/src/*.rs >&2; then
      rm -rf "$tmp"; die "candle-kernels $ver still uses OUT_DIR in the files above: update the stub recipe"
    fi
    echo "$STUB_FORMAT" >"$tmp/.cuda-check-stub"
    rm -rf "$stub" && mv "$tmp" "$stub"
    log "made stub candle-kernels $ver in $stub"
  fi
  [[ $stub != *[\"\\]* ]] || die "CUDA_CHECK_DIR must not contain quotes or backslashes"
  patch=(--config "patch.crates-io.candle-kernels.path=\"$stub\"")
fi

# ------------------------------------- 5. cudarc with dynamic loading (aelab) ---
if grep -q '^name = "cudarc"' "$lock"; then
  cudarc=$(CARGO="$CARGO" CARGO_HOME="$CARGO_HOME" bash "$(dirname "${BASH_SOURCE[0]}")/cudarc-dynload.sh" "$lock") \
    || die "making the cudarc patch failed"
  [[ $cudarc != *[\"\\]* ]] || die "the cudarc patch's path must not contain quotes or backslashes"
  patch+=(--config "patch.crates-io.cudarc.path=\"$cudarc\"")
fi

# ------------------------------------------------------------- 3. cargo check ---
log "CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION $CARGO ${patch[*]} check ${args[*]}"
# cargo runs in the background so that a signal to this script stops it at
# once (and Cargo.lock is put back) instead of after cargo finishes.
nice -n "$NICE" "$CARGO" "${patch[@]}" check "${args[@]}" &
cargo_pid=$!
trap 'kill -TERM "$cargo_pid" 2>/dev/null; wait "$cargo_pid"; exit 130' INT
trap 'kill -TERM "$cargo_pid" 2>/dev/null; wait "$cargo_pid"; exit 143' TERM HUP
rc=0
wait "$cargo_pid" || rc=$?
log "$( ((rc)) && echo FAILED || echo ok ) (exit $rc) after $((SECONDS - T0)) s"
exit "$rc"
