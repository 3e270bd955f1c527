# Sourced by the bench scripts: the release build of aelab, and bench/.venv with PyTorch from
# PyPI if it is missing. Leaves ROUNDS (default 3, unless the script set it) and TMP (a scratch folder) set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS="${ROUNDS:-3}"
cargo build --release -p ae-runner
if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install torch torchvision numpy
fi
TMP="$(mktemp -d)"
