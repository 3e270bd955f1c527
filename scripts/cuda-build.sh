#!/usr/bin/env bash
# cuda-build.sh — aelab's CUDA build: target/cuda/release/ae-runner, ONE binary that runs
# everywhere. It is built on a machine with NO GPU and NO CUDA toolkit (from PyPI's CUDA
# 13.0 wheels) for the GPU machine (NVIDIA H100/H200 = sm_90, driver 580 = CUDA 13.0), which
# has no Rust toolchain but has CUDA 13 libraries in its torch venv; and because cudarc
# loads the CUDA libraries with dlopen (see cudarc-dynload.sh), the same binary starts on a
# machine without the NVIDIA driver too, where `device: auto` trains on the CPU.
# (Adapted from the team's shared scripts/cuda-build.sh; the cudarc patch is aelab's.)
#
# Usage (from anywhere inside the workspace):
#   scripts/cuda-build.sh                          # cargo build --release -p ae-runner --features cuda
#   scripts/cuda-build.sh --features cuda -p ae-runner --bin ae-runner
# Every argument goes to `cargo build`. `-p ae-runner` is added only when the
# arguments select no package; `--features cuda` only when they hold no
# --features/-F/--all-features; `--release` only when they hold no --release/--profile.
#
# What it does (each step is skipped when already done, so reruns are cheap):
#   1. pip-installs a pinned CUDA 13.0 toolkit subset (nvcc, headers, cuBLAS,
#      cuRAND, NVRTC, cudart) from PyPI wheels into $CUDA_KIT/site.
#   2. Lays out a CUDA_HOME ($CUDA_KIT/cuda) on top of those wheels.
#   3. Builds a LINK-ONLY stub libcuda.so (soname libcuda.so.1) in
#      $CUDA_KIT/stub. The real driver's libcuda.so.1 is used at run time.
#   4. Exports the build environment (CUDA_HOME, CUDARC_CUDA_VERSION,
#      CUDA_COMPUTE_CAP, RUSTFLAGS with the GPU machine's rpath, ...).
#   5. Makes the cudarc copy with dynamic loading (scripts/cudarc-dynload.sh, cached)
#      and runs `cargo --config patch.crates-io.cudarc.path=<it> build` into its own
#      target dir ($CUDA_TARGET_DIR, default target/cuda), so it never invalidates
#      the normal CPU build. Cargo rewrites Cargo.lock for the patch; the script
#      puts the original back on exit (also on Ctrl-C / SIGTERM).
#   6. Fails if the PTX embedded by candle-kernels is newer than the driver
#      can JIT (.version > $MAX_PTX_VERSION, default 9.0 = CUDA 13.0).
#   7. Reports each built executable: path, size (vs. the 64 MiB the device
#      tool can carry; strips it if it is over), RPATH and ldd; fails if a CUDA
#      library is among its NEEDED entries (the patch did not take) or if it does
#      not start with no libcuda at all; shows which file each library that
#      cudarc dlopens resolves to in the kit's lib folder (the same wheels'
#      layout as the GPU machine's torch venv, which the rpath names).
#
# Environment knobs (all optional):
#   CUDA_KIT          toolkit cache dir        (default ${XDG_CACHE_HOME:-$HOME/.cache}/cudakit)
#   CUDA_FEATURES     default feature spec     (default "cuda"; empty = add none)
#   CUDA_TARGET_DIR   cargo target dir         (default <workspace>/target/cuda)
#   CUDA_COMPUTE_CAP  GPU arch for the kernels (default 90 = H100/H200)
#   GPU_CUDA_LIBDIR   CUDA libs on the GPU machine, baked into the rpath
#                     (default /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib)
#   MAX_PTX_VERSION   highest PTX ISA the GPU driver accepts (default 9.0)
#   CARRY_LIMIT_MIB   size above which a binary is stripped   (default 64)
#   CUDA_FATBIN_COMPRESS  nvcc --compress-mode for candle's precompiled
#                     (quantized/MoE) kernels: size|default|speed|balance|none
#                     (default size: ~25 MB smaller binary; a change rebuilds candle-kernels)
#   NICE              niceness of pip/cargo    (default 10)
#   PYTHON            python with pip          (default python3)
#   CUDAFORGE_THREADS parallel nvcc jobs in candle-kernels' build script (default: nproc)
#   CUDA_STUB_EXTRA_SYMBOLS  extra cu* names for the stub, space-separated
#   RUSTFLAGS         appended to the flags this script sets
#   AELAB_CUDA_CACHE  where cudarc-dynload.sh keeps the patched cudarc
#                     (default ${XDG_CACHE_HOME:-$HOME/.cache}/aelab-cuda)
# While it runs, Cargo.lock is the patched one: run no other cargo in this
# workspace meanwhile. After a `kill -9` of the script: git checkout Cargo.lock.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---------------------------------------------------------------- settings ---
# Pinned CUDA 13.0 wheels. Keep them <= 13.0: newer nvcc emits PTX the 580
# driver cannot JIT. cuBLAS 13.1.0.3 is the cuBLAS of CUDA 13.0 update 2.
CUDA_WHEELS=(
  nvidia-cuda-nvcc==13.0.88     # nvcc, ptxas, fatbinary, nvlink
  nvidia-cuda-crt==13.0.88      # nvcc's crt/ headers
  nvidia-nvvm==13.0.88          # cicc + libdevice (nvcc's device front end)
  nvidia-cuda-cccl==13.0.85     # CUB/Thrust/libcu++ headers
  nvidia-cuda-runtime==13.0.96  # cuda.h, cuda_runtime.h, libcudart.so.13
  nvidia-cuda-nvrtc==13.0.88    # libnvrtc.so.13
  nvidia-cublas==13.1.0.3       # libcublas.so.13, libcublasLt.so.13
  nvidia-curand==10.4.0.35      # libcurand.so.10
)
CUDA_RELEASE=13.0            # what `nvcc --version` must report
CUDARC_VERSION_CODE=13000    # cudarc's spelling of CUDA 13.0

CUDA_KIT=${CUDA_KIT:-${XDG_CACHE_HOME:-${HOME:?neither CUDA_KIT nor HOME is set}/.cache}/cudakit}
CUDA_FEATURES=${CUDA_FEATURES-cuda}
CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
GPU_CUDA_LIBDIR=${GPU_CUDA_LIBDIR:-/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib}
MAX_PTX_VERSION=${MAX_PTX_VERSION:-9.0}
CARRY_LIMIT_MIB=${CARRY_LIMIT_MIB:-64}
CUDA_FATBIN_COMPRESS=${CUDA_FATBIN_COMPRESS:-size}
NICE=${NICE:-10}
PYTHON=${PYTHON:-python3}

# ----------------------------------------------------------------- helpers ---
log()  { printf '[cuda-build] %s\n' "$*" >&2; }
die()  { printf '[cuda-build] ERROR: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found: $2"; }
trap 'rc=$?; printf "[cuda-build] FAILED (exit %s) at line %s: %s\n" "$rc" "$LINENO" "$BASH_COMMAND" >&2' ERR
T0=$SECONDS
phase() { log "== $* (t=$((SECONDS - T0))s)"; }

# ------------------------------------------------------------ preconditions ---
[[ $(uname -s) == Linux && $(uname -m) == x86_64 ]] \
  || die "only x86_64 Linux hosts are supported (the GPU machine is x86_64 Linux)"
need cargo   "install Rust (rustup) first"
need cc      "install a C compiler (apt-get install gcc)"
need "$PYTHON" "install python3 with pip (apt-get install python3-pip)"
need readelf "install binutils (apt-get install binutils)"
need flock   "install util-linux"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "'$PYTHON -m pip' does not work (apt-get install python3-pip)"
# These end up in RUSTFLAGS, which cargo splits on whitespace.
case "$CUDA_KIT$GPU_CUDA_LIBDIR" in *[[:space:]]*) die "CUDA_KIT and GPU_CUDA_LIBDIR must not contain whitespace";; esac

# Run from the workspace root, wherever we were called from.
WS_MANIFEST=$(cargo locate-project --workspace --message-format plain 2>&1) \
  || die "no Cargo workspace here (run it inside one): $WS_MANIFEST"
WS_ROOT=$(dirname "$WS_MANIFEST")
cd "$WS_ROOT"
CUDA_TARGET_DIR=${CUDA_TARGET_DIR:-$WS_ROOT/target/cuda}

mkdir -p "$CUDA_KIT"
CUDA_KIT=$(cd "$CUDA_KIT" && pwd -P)
# One run at a time per kit: a second run waits instead of corrupting it.
exec 9>"$CUDA_KIT/.lock"
flock -n 9 || { log "another cuda-build.sh holds $CUDA_KIT; waiting..."; flock 9; }

SITE=$CUDA_KIT/site                 # pip --target dir
CU13=$SITE/nvidia/cu13              # where the cu13 wheels put everything
CUDA_HOME=$CUDA_KIT/cuda            # toolkit layout that nvcc/cudarc expect
STUB_DIR=$CUDA_KIT/stub             # stub libcuda.so, never linked nor in the rpath
SMOKE_DIR=$CUDA_KIT/smoke           # libcuda.so.1 -> stub, for local smoke runs only
STATIC_DIR=$CUDA_KIT/static         # libcudart.a -> the wheel's libcudart_static.a: -L only

# --------------------------------------------------- 1. CUDA wheels via pip ---
# A plain `pip install --target` (no venv: nothing here runs Python, and it
# avoids needing python3-venv). Installed into site.tmp and renamed at the
# end, so an interrupted download never leaves a half-installed kit.
phase "1/7 CUDA ${CUDA_RELEASE} wheels in $SITE"
WANT_WHEELS="${CUDA_WHEELS[*]}"
if [[ -f $SITE/.installed && $(<"$SITE/.installed") == "$WANT_WHEELS" ]]; then
  log "already installed, skipping pip"
else
  avail_kib=$(df -Pk "$CUDA_KIT" | awk 'NR==2 {print $4}')
  (( avail_kib > 3 * 1024 * 1024 )) || die "need ~3 GiB free under $CUDA_KIT (have $((avail_kib / 1024)) MiB)"
  log "downloading ~1.1 GB of wheels (once)..."
  rm -rf "$SITE.tmp"
  PIP_ROOT_USER_ACTION=ignore nice -n "$NICE" "$PYTHON" -m pip install \
      --no-deps --no-cache-dir --only-binary=:all: --disable-pip-version-check \
      --target "$SITE.tmp" "${CUDA_WHEELS[@]}" \
    || die "pip install of the CUDA wheels failed (is the Python package registry reachable?)"
  [[ -x $SITE.tmp/nvidia/cu13/bin/nvcc ]] || die "wheels installed but nvidia/cu13/bin/nvcc is missing (layout changed?)"
  printf '%s' "$WANT_WHEELS" >"$SITE.tmp/.installed"
  rm -rf "$SITE" "$CUDA_HOME"
  mv "$SITE.tmp" "$SITE"
fi

# ------------------------------------------------------ 2. CUDA_HOME layout ---
# $CUDA_HOME/{bin,include,nvvm} -> the wheel dirs; $CUDA_HOME/lib64 holds a
# link per library plus the unversioned dev links (libcublas.so -> .so.13)
# that `-lcublas` needs and that the wheels do not ship.
phase "2/7 CUDA_HOME in $CUDA_HOME"
if [[ -f $CUDA_HOME/.stamp && $(<"$CUDA_HOME/.stamp") == "$WANT_WHEELS" ]]; then
  log "already laid out"
else
  rm -rf "$CUDA_HOME.tmp"
  mkdir -p "$CUDA_HOME.tmp/lib64"
  for d in bin include nvvm; do ln -s "../site/nvidia/cu13/$d" "$CUDA_HOME.tmp/$d"; done
  for f in "$CU13"/lib/*.so* "$CU13"/lib/*.a; do
    [[ -e $f ]] || continue
    name=${f##*/}
    ln -s "../../site/nvidia/cu13/lib/$name" "$CUDA_HOME.tmp/lib64/$name"
    dev=${name%%.so.*}.so                      # libcublas.so.13 -> libcublas.so
    if [[ $name == *.so.* && ! -e $CUDA_HOME.tmp/lib64/$dev ]]; then ln -s "$name" "$CUDA_HOME.tmp/lib64/$dev"; fi
  done
  ln -s lib64 "$CUDA_HOME.tmp/lib"
  for lib in cudart cublas cublasLt curand nvrtc; do
    [[ -e $CUDA_HOME.tmp/lib64/lib$lib.so ]] || die "lib$lib.so missing from the kit"
  done
  printf '%s' "$WANT_WHEELS" >"$CUDA_HOME.tmp/.stamp"
  rm -rf "$CUDA_HOME"
  mv "$CUDA_HOME.tmp" "$CUDA_HOME"
fi
nvcc_release=$("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')
[[ $nvcc_release == "$CUDA_RELEASE" ]] || die "kit nvcc reports release '$nvcc_release', expected $CUDA_RELEASE"

# ------------------------------------------------- 3. stub libcuda.so ---
# With cudarc's dynamic loading (step 5) nothing links -lcuda any more: the
# binary dlopens libcuda.so.1 when a CUDA device is opened. The stub is kept for
# the local smoke test: a libcuda.so.1 ($SMOKE_DIR) that exports every cu* driver
# symbol named in the kit's cuda.h (raw names, _v2 and the _ptds/_ptsz names of
# the per-thread default stream build), each returning CUDA_ERROR_STUB_LIBRARY
# (34) with a message saying so. It is never linked and never in the rpath.
phase "3/7 stub libcuda.so in $STUB_DIR"
cuda_h=$CU13/include/cuda.h
[[ -f $cuda_h ]] || die "$cuda_h missing"
stub_syms=$(
  {
    grep -ohE '\bcu[A-Z][A-Za-z0-9_]*' "$cuda_h"
    cc -E -P -DCUDA_API_PER_THREAD_DEFAULT_STREAM=1 -I"$CU13/include" -x c "$cuda_h" \
      | grep -oE '\bcu[A-Z][A-Za-z0-9_]*'
    for s in ${CUDA_STUB_EXTRA_SYMBOLS:-}; do echo "$s"; done
  } | LC_ALL=C sort -u
)
n_syms=$(wc -l <<<"$stub_syms")
(( n_syms > 400 )) || die "only $n_syms cu* symbols found in $cuda_h; refusing to build a stub"
if [[ -f $STUB_DIR/libcuda.so && -f $STUB_DIR/symbols.txt && $(<"$STUB_DIR/symbols.txt") == "$stub_syms" ]]; then
  log "already built ($n_syms symbols)"
else
  rm -rf "$STUB_DIR.tmp"; mkdir -p "$STUB_DIR.tmp"
  {
    echo '/* LINK-ONLY stub of libcuda.so.1, generated by cuda-build.sh. Never load it at run time. */'
    echo 'static const char stub_msg[] = "CUDA_ERROR_STUB_LIBRARY: the link-only stub libcuda.so.1 from cuda-build.sh was loaded instead of the NVIDIA driver";'
    echo 'int cuGetErrorString(int e, const char **s) { (void)e; if (s) *s = stub_msg; return 0; }'
    echo 'int cuGetErrorName(int e, const char **s) { (void)e; if (s) *s = "CUDA_ERROR_STUB_LIBRARY"; return 0; }'
    grep -vxE 'cuGetErrorString|cuGetErrorName' <<<"$stub_syms" | sed 's/.*/int &(void) { return 34; }/'
  } >"$STUB_DIR.tmp/stub.c"
  cc -shared -fPIC -O0 -w -Wl,-soname,libcuda.so.1 -o "$STUB_DIR.tmp/libcuda.so" "$STUB_DIR.tmp/stub.c" \
    || die "compiling the stub libcuda.so failed"
  printf '%s\n' "$stub_syms" >"$STUB_DIR.tmp/symbols.txt"
  rm -rf "$STUB_DIR"; mv "$STUB_DIR.tmp" "$STUB_DIR"
  log "built with $n_syms symbols"
fi
# For local smoke runs only (see README): a dir where libcuda.so.1 is the stub.
mkdir -p "$SMOKE_DIR"; ln -sfn ../stub/libcuda.so "$SMOKE_DIR/libcuda.so.1"
# candle-kernels' build script asks for `-lcudart` (its precompiled quantized/MoE
# kernels, which aelab never calls). Linked dynamically, libcudart.so.13 would be
# a NEEDED entry and the binary would not start where CUDA is not installed. The
# only library folder the linker is given holds libcudart.a (the wheel's
# libcudart_static.a) and no libcudart.so, so `-lcudart` resolves to the static
# runtime (~1 MB more; it dlopens libcuda.so.1 itself, only if it is ever used).
[[ -f $CU13/lib/libcudart_static.a ]] || die "$CU13/lib/libcudart_static.a missing from the nvidia-cuda-runtime wheel"
mkdir -p "$STATIC_DIR"; ln -sfn "$CU13/lib/libcudart_static.a" "$STATIC_DIR/libcudart.a"

# ------------------------------------------------------- 4. environment ---
phase "4/7 environment"
export CUDA_HOME CUDA_PATH=$CUDA_HOME
unset CUDA_ROOT CUDA_TOOLKIT_ROOT_DIR CUDNN_LIB   # cudarc would add their libs too
export PATH=$CUDA_HOME/bin:$PATH
export NVCC=$CUDA_HOME/bin/nvcc                 # candle-kernels' build script (cudaforge)
export CUDARC_CUDA_VERSION=$CUDARC_VERSION_CODE # cudarc: use the CUDA 13.0 API bindings
export CUDA_COMPUTE_CAP                         # 90 -> kernels built for sm_90a
export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-$(nproc)}
# candle-kernels links ~14 precompiled (sm_90a SASS) quantized/MoE kernels into
# every binary: ~33 MB of fatbin with nvcc's default compression, ~8 MB with
# --compress-mode=size. nvcc reads NVCC_APPEND_FLAGS for every call; the flag
# does not change the PTX, only the fatbin of those objects.
case $CUDA_FATBIN_COMPRESS in default|size|speed|balance|none) ;;
  *) die "CUDA_FATBIN_COMPRESS must be one of default|size|speed|balance|none";; esac
export NVCC_APPEND_FLAGS="${NVCC_APPEND_FLAGS:+$NVCC_APPEND_FLAGS }--compress-mode=$CUDA_FATBIN_COMPRESS"
# Link flags. -L: the static cudart (link time only). The rpath (written as
# DT_RPATH via --disable-new-dtags, so it also beats a stray LD_LIBRARY_PATH,
# and used by dlopen calls from the binary) points at $ORIGIN (the binary's
# folder) and at the torch venv's CUDA 13 libs on the GPU machine, where cudarc
# finds libcublas.so.13, libcublasLt.so.13, libcurand.so.10 and libnvrtc.so.13.
# Note: RUSTFLAGS overrides `build.rustflags` from .cargo/config.toml; pass
# such flags in RUSTFLAGS instead, they are appended here.
# shellcheck disable=SC2016,SC2054  # $ORIGIN is for the dynamic loader; commas are ld syntax
cuda_rustflags=(
  -L "native=$STATIC_DIR"
  -C link-arg=-Wl,--disable-new-dtags
  -C 'link-arg=-Wl,-rpath,$ORIGIN'
  -C "link-arg=-Wl,-rpath,$GPU_CUDA_LIBDIR"
)
export RUSTFLAGS="${cuda_rustflags[*]}${RUSTFLAGS:+ $RUSTFLAGS}"
unset CARGO_ENCODED_RUSTFLAGS
for v in CUDA_HOME NVCC CUDARC_CUDA_VERSION CUDA_COMPUTE_CAP CUDAFORGE_THREADS NVCC_APPEND_FLAGS RUSTFLAGS; do
  log "  $v=${!v}"
done

# ------------------------------------------------------------ 5. cargo build ---
args=("$@")
have_features=0 have_profile=0 have_pkg=0 profile_args=(--release) prev=
for a in "${args[@]}"; do
  [[ $prev == --profile ]] && profile_args=(--profile "$a")
  prev=$a
  case $a in
    -p|-p?*|--package|--package=*|--workspace|--all) have_pkg=1 ;;
    --features|--features=*|-F|-F?*|--all-features) have_features=1 ;;
    --release|-r) have_profile=1 ;;
    --profile) have_profile=1 ;;
    --profile=*) have_profile=1; profile_args=(--profile "${a#--profile=}") ;;
    --message-format|--message-format=*) die "do not pass --message-format: the script reads cargo's JSON messages" ;;
    --target|--target=*|--target-dir|--target-dir=*) die "'$a' is not supported: host x86_64 only; set CUDA_TARGET_DIR to move the target dir" ;;
  esac
done
extra=()
(( have_pkg )) || extra+=(-p ae-runner)
(( have_profile )) || extra+=(--release)
(( have_features )) || [[ -z $CUDA_FEATURES ]] || extra+=(--features "$CUDA_FEATURES")
# Diagnostics still go to the terminal (stderr); stdout's JSON tells us the
# paths of the executables and of candle-kernels' OUT_DIR.
extra+=(--message-format=json-render-diagnostics)
# The cudarc patch: dynamic loading instead of candle's dynamic linking.
lock=$WS_ROOT/Cargo.lock
[[ -f $lock ]] || die "$lock is missing: run cargo generate-lockfile (or git checkout Cargo.lock)"
CUDARC_PATCH=$(bash "$HERE/cudarc-dynload.sh" "$lock") || die "making the cudarc patch failed"
[[ $CUDARC_PATCH != *[\"\\]* ]] || die "AELAB_CUDA_CACHE must not contain quotes or backslashes"
patch=(--config "patch.crates-io.cudarc.path=\"$CUDARC_PATCH\"")
log "  cudarc with dynamic loading: $CUDARC_PATCH"
saved_lock=$(mktemp "$CUDA_KIT/Cargo.lock.XXXXXX")
cp "$lock" "$saved_lock"
# shellcheck disable=SC2317  # called from the EXIT trap
restore_lock() { cat "$saved_lock" >"$lock" && rm -f "$saved_lock"; }
trap restore_lock EXIT
trap 'exit 130' INT; trap 'exit 143' TERM HUP   # the EXIT trap runs on Ctrl-C / SIGTERM too
phase "5/7 cargo ${patch[*]} build --target-dir $CUDA_TARGET_DIR ${extra[*]} ${args[*]}"
json_log=$CUDA_TARGET_DIR/cuda-build.last.json
mkdir -p "$CUDA_TARGET_DIR"
# cudaforge's own cache does not see NVCC_APPEND_FLAGS: when it changed since
# the last build in this target dir, drop candle-kernels' outputs so its
# kernels are compiled again with the new flags.
flags_stamp=$CUDA_TARGET_DIR/cuda-build.nvcc-flags
if [[ -f $flags_stamp && $(<"$flags_stamp") != "$NVCC_APPEND_FLAGS" ]]; then
  log "NVCC_APPEND_FLAGS changed since the last build: cleaning candle-kernels (${profile_args[*]})"
  cargo clean --target-dir "$CUDA_TARGET_DIR" -p candle-kernels "${profile_args[@]}" \
    || die "cargo clean -p candle-kernels failed"
fi
printf '%s' "$NVCC_APPEND_FLAGS" >"$flags_stamp"
t_build=$SECONDS
rc=0
# cargo runs in the background so that a signal to this script stops it at once
# (and Cargo.lock is put back) instead of after the build.
nice -n "$NICE" cargo "${patch[@]}" build --target-dir "$CUDA_TARGET_DIR" "${extra[@]}" "${args[@]}" >"$json_log" &
cargo_pid=$!
trap 'kill -TERM "$cargo_pid" 2>/dev/null; wait "$cargo_pid"; exit 130' INT
trap 'kill -TERM "$cargo_pid" 2>/dev/null; wait "$cargo_pid"; exit 143' TERM HUP
wait "$cargo_pid" || rc=$?
trap 'exit 130' INT; trap 'exit 143' TERM HUP
restore_lock; trap - EXIT
if (( rc != 0 )); then
  if grep -q 'undefined reference to `cu' "$json_log" 2>/dev/null; then
    log "hint: a cu* driver symbol is missing from the stub: add it via CUDA_STUB_EXTRA_SYMBOLS"
  fi
  die "cargo build failed (exit $rc)"
fi
log "cargo build took $((SECONDS - t_build))s"

# Executables built and candle-kernels' OUT_DIR, from cargo's JSON messages
# (cargo emits them for fresh units too, so a no-op build still lists them;
# no candle-kernels message means this build did not include candle's CUDA).
mapfile -t built < <(
  "$PYTHON" - "$json_log" <<'EOF'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print("exe\t" + m["executable"])
    elif m.get("reason") == "build-script-executed" and "candle-kernels" in m.get("package_id", ""):
        print("kernels\t" + m["out_dir"])
EOF
)
exes=() kernel_dirs=()
for l in "${built[@]}"; do
  case $l in exe$'\t'*) exes+=("${l#*$'\t'}");; kernels$'\t'*) kernel_dirs+=("${l#*$'\t'}");; esac
done

# ------------------------------------------------------------ 6. PTX check ---
# The driver JITs candle's PTX at first use; driver 580 (CUDA 13.0) accepts
# PTX ISA <= 9.0 and rejects newer with CUDA_ERROR_UNSUPPORTED_PTX_VERSION.
phase "6/7 PTX .version <= $MAX_PTX_VERSION"
(( ${#kernel_dirs[@]} > 0 )) || die "candle-kernels was not built: is candle's cuda feature enabled? (pass e.g. --features <crate>/cuda)"
ptx_too_new() { awk -v v="$1" -v m="$MAX_PTX_VERSION" 'BEGIN { split(v, a, "."); split(m, b, ".");
  exit !((a[1] + 0 > b[1] + 0) || (a[1] + 0 == b[1] + 0 && a[2] + 0 > b[2] + 0)) }'; }
ptx_versions_ok() {   # $1 = label, $2 = the .version numbers found; logs each
  local v ok=0
  for v in $2; do
    if ptx_too_new "$v"; then log "  $1: .version $v  TOO NEW"; ok=1; else log "  $1: .version $v  ok"; fi
  done
  return $ok
}
# `.version X.Y` directives at the start of a line, in text or binary files.
ptx_versions() { grep -haoE '^[[:space:]]*\.version [0-9]+\.[0-9]+' "$@" | awk '{print $2}' | sort -u || true; }
for d in "${kernel_dirs[@]}"; do
  ptx_files=("$d"/*.ptx)
  [[ -f ${ptx_files[0]} ]] || die "no .ptx files in $d"
  vers=$(ptx_versions "${ptx_files[@]}")
  [[ -n $vers ]] || die "no .version line in candle-kernels' PTX ($d)"
  ptx_versions_ok "candle-kernels (${#ptx_files[@]} .ptx files)" "$vers" \
    || die "candle-kernels' PTX is newer than ISA $MAX_PTX_VERSION: the GPU driver cannot load it (use nvcc <= CUDA 13.0)"
  targets=$(grep -hoE '^[[:space:]]*\.target [a-z0-9_]+' "${ptx_files[@]}" | awk '{print $2}' | sort -u | tr '\n' ' ' || true)
  log "  candle-kernels PTX .target: $targets"
done
for exe in "${exes[@]}"; do
  vers=$(ptx_versions "$exe")
  if [[ -z $vers ]]; then log "  ${exe##*/}: no embedded PTX (does it use candle's CUDA device?)"; continue; fi
  ptx_versions_ok "${exe##*/} (embedded)" "$vers" \
    || die "${exe##*/} embeds PTX newer than ISA $MAX_PTX_VERSION: the GPU driver cannot load it"
done

# -------------------------------------------------------------- 7. report ---
phase "7/7 result"
(( ${#exes[@]} > 0 )) || log "no executable was built (library-only selection?)"
limit_bytes=$((CARRY_LIMIT_MIB * 1024 * 1024))
for exe in "${exes[@]}"; do
  size=$(stat -c %s "$exe")
  if (( size > limit_bytes )); then
    log "${exe##*/} is $((size / 1048576)) MiB > ${CARRY_LIMIT_MIB} MiB: stripping it in place"
    strip "$exe"; size=$(stat -c %s "$exe")
    (( size <= limit_bytes )) || log "WARNING: still $((size / 1048576)) MiB after strip: too big to carry to the GPU machine"
  fi
  rpath=$(readelf -d "$exe" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p')
  case ":$rpath:" in *":$STUB_DIR:"*|*":$SMOKE_DIR:"*) die "stub dir leaked into the rpath of $exe";; esac
  rel=${exe#"$WS_ROOT"/}
  needs=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  echo
  echo "binary : $rel"
  echo "size   : $size bytes ($(awk -v s="$size" 'BEGIN{printf "%.1f", s/1048576}') MiB; the device tool carries <= ${CARRY_LIMIT_MIB} MiB in all)"
  echo "rpath  : $rpath"
  echo "needs  : $needs"
  glibc=$(readelf -V "$exe" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)*' | sort -uV | tail -n1 || true)
  echo "glibc  : the newest symbol version it needs is ${glibc:-?} (the GPU machine's glibc must be at least that)"
  # With cudarc's dynamic loading no CUDA library is linked: they are dlopen'ed on first use.
  if grep -qE 'libcuda|libcublas|libcurand|libnvrtc|libcudart' <<<"$needs"; then
    die "${exe##*/} links CUDA libraries at load time (NEEDED above): the cudarc patch did not take"
  fi
  # It must start with no NVIDIA driver at all (this machine has none; the loader path is cleared).
  if ! out=$(env -u LD_LIBRARY_PATH "$exe" --version 2>&1); then
    die "${exe##*/} --version failed without libcuda: $out"
  fi
  echo "starts : '$rel --version' with no libcuda: $out"
  echo "dlopen : what cudarc's dynamic loading finds in the kit's lib folder (the wheels' layout"
  echo "         of the GPU machine's $GPU_CUDA_LIBDIR, which the rpath names):"
  major=${CUDARC_VERSION_CODE:0:2}
  for lib in cublas cublasLt curand nvrtc; do
    found=
    # cudarc's list of names (after cudarc-dynload.sh's reorder), the ones that can exist on Linux.
    for name in "lib$lib.so.$major" "lib$lib.so" "lib$lib.so.12" "lib$lib.so.11" "lib$lib.so.10" "lib$lib.so.9" "lib$lib.so.1"; do
      if [[ -e $CU13/lib/$name ]]; then found=$name; break; fi
    done
    [[ -n $found ]] || die "no file that cudarc would dlopen for $lib in $CU13/lib"
    echo "    $lib -> $found"
  done
  echo "    cuda -> libcuda.so.1 (the NVIDIA driver's; checked by ae-core before a device is opened)"
  # The device tool carries 64 MiB in all, the working tree included: carry the binary gzipped.
  gzip -9 -n -c "$exe" >"$exe.gz.tmp" && mv "$exe.gz.tmp" "$exe.gz"
  gz=$(stat -c %s "$exe.gz")
  tree=$(git ls-files -z --cached --others --exclude-standard 2>/dev/null \
    | xargs -0 -r stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
  echo "gzip   : $rel.gz, $gz bytes ($(awk -v s="$gz" 'BEGIN{printf "%.1f", s/1048576}') MiB); with the working tree ($(awk -v s="$tree" 'BEGIN{printf "%.1f", s/1048576}') MiB) $(awk -v s=$((gz + tree)) 'BEGIN{printf "%.1f", s/1048576}') MiB of the device tool's ${CARRY_LIMIT_MIB} MiB"
  (( gz + tree <= limit_bytes )) || log "WARNING: the working tree and $rel.gz are over ${CARRY_LIMIT_MIB} MiB together: the device tool will refuse to carry them"
  echo "GPU run: carry '$rel.gz' with the device tool; scripts/gpu-check.sh unpacks it there, or:"
  echo "         gunzip -k $rel.gz && env -u LD_LIBRARY_PATH $rel ..."
  echo "smoke  : here, with the stub as driver (CUDA fails with CUDA_ERROR_STUB_LIBRARY, no panic):"
  echo "         LD_LIBRARY_PATH=$SMOKE_DIR $rel ... --device cuda"
done
echo
log "done in $((SECONDS - T0))s"
