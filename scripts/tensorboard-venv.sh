#!/usr/bin/env bash
# TensorBoard in a virtual environment under target/ (from PyPI), for tests/tensorboard.rs's
# check with TensorBoard's own reader and server, and for watching runs:
#   bash scripts/tensorboard-venv.sh && target/tensorboard-venv/bin/tensorboard --logdir results/<exp>/tensorboard
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/tensorboard-venv
if ! "$venv/bin/python" -c "import tensorboard" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "tensorboard==2.21.0"
fi
"$venv/bin/python" -c "import tensorboard; print('tensorboard', tensorboard.__version__, 'in $venv')"
