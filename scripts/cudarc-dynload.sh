#!/usr/bin/env bash
# cudarc-dynload.sh — make (once, cached) a copy of the cudarc crate that Cargo.lock pins in
# which candle's `dynamic-linking` feature means cudarc's `dynamic-loading`, and print its
# folder on stdout. cuda-build.sh and cuda-check.sh patch it in with
#   cargo --config 'patch.crates-io.cudarc.path="<that folder>"' ...
# so that nothing of cudarc is committed to this repository and Cargo.toml stays as it is.
#
# Why: candle-core 0.11 turns on cudarc's `dynamic-linking`, so a CUDA build of ae-runner has
# libcuda.so.1, libcublas, libcurand, libnvrtc as NEEDED entries and does not even start on a
# machine without the NVIDIA driver. With `dynamic-loading` cudarc opens those libraries with
# dlopen on first use instead: the same binary starts everywhere, and ae-core's device module
# checks for the driver before it opens a CUDA device (auto -> CPU, cuda -> a clear error).
#
# The rewrite (each step is checked; a cudarc whose sources differ stops with a message):
#   1. Cargo.toml: `dynamic-linking = []` becomes `dynamic-linking = ["dynamic-loading"]`.
#   2. build.rs: every `feature = "dynamic-linking"` becomes `any()` (false), so the build
#      script neither panics at "both dynamic-loading and dynamic-linking" nor emits
#      `rustc-link-lib=dylib=cuda` and the rest. src/ must not mention `dynamic-linking`.
#   3. src/lib.rs: the library names tried by dlopen start with lib<name>.so.<CUDA major>
#      (libcublas.so.13, ...) before the unversioned lib<name>.so, so that a stray system
#      libcublas.so of another CUDA release is not picked before the CUDA 13 one that the
#      binary's rpath points at. The rest of cudarc's list follows unchanged.
#
# Usage: cudarc-dynload.sh PATH/TO/Cargo.lock      (prints the patched crate's folder)
# Environment: AELAB_CUDA_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/aelab-cuda),
#              CARGO (default cargo), CARGO_HOME (default $HOME/.cargo).
set -euo pipefail

FORMAT=1   # bump when the recipe below changes: cached copies are remade
lock=${1:?usage: cudarc-dynload.sh PATH/TO/Cargo.lock}
CACHE=${AELAB_CUDA_CACHE:-${XDG_CACHE_HOME:-${HOME:?set HOME or AELAB_CUDA_CACHE}/.cache}/aelab-cuda}
CARGO=${CARGO:-cargo}
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}

log() { printf '[cudarc-dynload] %s\n' "$*" >&2; }
die() { printf '[cudarc-dynload] ERROR: %s\n' "$*" >&2; exit 1; }

[[ -f $lock ]] || die "$lock not found"
mapfile -t versions < <(awk '
  /^\[\[package\]\]/ { n = ""; v = "" }
  /^name = /    { n = $3 }
  /^version = / { v = $3 }
  /^source = "registry\+/ && n == "\"cudarc\"" { gsub(/"/, "", v); print v }' "$lock" | sort -u)
(( ${#versions[@]} == 1 )) || die "expected one cudarc from the registry in $lock, found ${#versions[@]} (${versions[*]:-none})"
ver=${versions[0]}

mkdir -p "$CACHE" && CACHE=$(cd "$CACHE" && pwd -P)
out=$CACHE/cudarc-$ver-dynload
if [[ $(cat "$out/.aelab-dynload" 2>/dev/null) == "$FORMAT" ]]; then
  printf '%s\n' "$out"
  exit 0
fi

find_src() { compgen -G "$CARGO_HOME/registry/src/*/cudarc-$ver" | head -n1 || true; }
find_crate() { compgen -G "$CARGO_HOME/registry/cache/*/cudarc-$ver.crate" | head -n1 || true; }
if [[ -z $(find_src) && -z $(find_crate) ]]; then
  log "cudarc $ver is not in cargo's cache: cargo fetch"
  (cd "$(dirname "$lock")" && "$CARGO" fetch >&2)
fi
tmp=$(mktemp -d "$CACHE/.cudarc.XXXXXX") && chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
if src=$(find_src) && [[ -n $src ]]; then cp -R "$src/." "$tmp/"
elif crate=$(find_crate) && [[ -n $crate ]]; then tar -xzf "$crate" -C "$tmp" --strip-components=1
else die "cudarc $ver not found under $CARGO_HOME/registry"; fi

# 1. Cargo.toml: candle's feature turns on dynamic loading.
grep -qx 'dynamic-linking = \[\]' "$tmp/Cargo.toml" || die "cudarc $ver: no 'dynamic-linking = []' in Cargo.toml: update the recipe"
grep -qx 'dynamic-loading = \[\]' "$tmp/Cargo.toml" || die "cudarc $ver: no 'dynamic-loading = []' in Cargo.toml: update the recipe"
sed -i 's/^dynamic-linking = \[\]$/dynamic-linking = ["dynamic-loading"]/' "$tmp/Cargo.toml"

# 2. build.rs: the dynamic-linking cfg is never true (no link lines, no "both" panic).
grep -q 'feature = "dynamic-linking"' "$tmp/build.rs" || die "cudarc $ver: build.rs has no dynamic-linking cfg: update the recipe"
sed -i 's/feature = "dynamic-linking"/any()/g' "$tmp/build.rs"
if grep -rnE 'feature *= *"dynamic-linking"|CARGO_FEATURE_DYNAMIC_LINKING' "$tmp/build.rs" "$tmp/src" >&2; then
  die "cudarc $ver still tests the dynamic-linking feature in the lines above: update the recipe"
fi
grep -q 'feature = "dynamic-loading"' "$tmp/src/lib.rs" || die "cudarc $ver: src/lib.rs has no dynamic-loading code: update the recipe"

# 3. dlopen names: lib<name>.so.<major> first.
first='        std::format!("{DLL_PREFIX}{lib_name}{DLL_SUFFIX}"),'
(( $(grep -cxF "$first" "$tmp/src/lib.rs") == 1 )) || die "cudarc $ver: the library name list in src/lib.rs changed: update the recipe"
awk -v first="$first" '
  $0 == first { print "        // aelab (cudarc-dynload.sh): the CUDA major version first."
                print "        std::format!(\"{DLL_PREFIX}{lib_name}{DLL_SUFFIX}.{major}\"),"}
  { print }' "$tmp/src/lib.rs" >"$tmp/src/lib.rs.new"
mv "$tmp/src/lib.rs.new" "$tmp/src/lib.rs"

printf '%s\n' "$FORMAT" >"$tmp/.aelab-dynload"
rm -rf "$out" && mv "$tmp" "$out"
trap - EXIT
log "made cudarc $ver with dynamic loading in $out"
printf '%s\n' "$out"
