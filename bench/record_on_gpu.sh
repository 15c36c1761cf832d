#!/usr/bin/env bash
# Record a GPU (or NPU) machine as envkit test scenarios, on a machine with no network.
#
#   1. On a connected machine, in this checkout (PY_VERSION = the GPU machine's Python):
#        PY_VERSION=3.12 bench/record_on_gpu.sh prepare .gpu-wheels
#      -> .gpu-wheels/: envkit's wheel plus the few wheels detect/doctor import (typer, rich,
#         packaging, tomlkit, psutil, nvidia-ml-py and their dependencies; a few MB).
#   2. Carry the checkout (with .gpu-wheels) to the GPU machine and run there:
#        bench/record_on_gpu.sh record .gpu-wheels OUT_DIR [PYTHON]
#      PYTHON is the interpreter whose env is checked (default: python3 on PATH, e.g. the
#      machine's preinstalled torch). envkit goes into its own venv, installed offline.
#      -> OUT_DIR/detect-<name>/ (envkit detect --record), OUT_DIR/doctor-<name>/ (envkit doctor
#         --record: host boundary, probe, verdicts with a real CUDA kernel launch; the ACT smoke
#         too when lerobot imports in PYTHON's env, else --no-smoke: lerobot with its torch pins
#         is too big to carry to an offline machine), and
#         OUT_DIR/recording.tgz holding both (one file is easy to bring back).
#   3. Back here: look through the folders (redacted, but read them), say in SOURCE.md what the
#      machine is, move the doctor folder to tests/data/recorded/<name>/ and run
#        .venv/bin/pytest -q tests/test_host.py tests/test_doctor_scenarios.py
#      Its host boundary replays through tests/test_host.py, its verdicts through
#      tests/test_doctor_scenarios.py, with no code change.
set -euo pipefail
cd "$(dirname "$0")/.."

# What `envkit detect` and `envkit doctor` import; conda-lock, py-rattler and uv are only
# imported by setup/lock, so they stay behind (they would not fit a small carry).
RUNTIME_DEPS=(typer rich packaging tomlkit psutil nvidia-ml-py)

prepare() {
  local wheels=${1:?usage: record_on_gpu.sh prepare WHEEL_DIR}
  local py=${PY_VERSION:-3.12}
  local pip=${PIP:-.venv/bin/pip}
  mkdir -p "$wheels"
  "$pip" wheel -q --no-deps -w "$wheels" .
  "$pip" download -q --only-binary=:all: --python-version "$py" --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_aarch64 -d "$wheels" "${RUNTIME_DEPS[@]}"
  du -sh "$wheels"
}

record() {
  local wheels=${1:?usage: record_on_gpu.sh record WHEEL_DIR OUT_DIR [PYTHON]}
  local out=${2:?usage: record_on_gpu.sh record WHEEL_DIR OUT_DIR [PYTHON]}
  local target=${3:-$(command -v python3)}
  local venv=${ENVKIT_VENV:-/tmp/envkit-recorder}
  local name=${NAME:-$(uname -m)-$(date -u +%Y%m%d)}
  "$target" -m venv "$venv"
  "$venv/bin/pip" install -q --no-index --find-links "$wheels" "${RUNTIME_DEPS[@]}"
  "$venv/bin/pip" install -q --no-index --no-deps "$wheels"/envkit-*.whl
  mkdir -p "$out"
  "$venv/bin/envkit" detect
  "$venv/bin/envkit" detect --record "$out/detect-$name" --redact-hostname --json > "$out/detect-$name.json"
  local smoke=(--no-smoke)
  if "$target" -c 'import lerobot' 2>/dev/null; then smoke=(); fi
  # Exit 1 (a failed check) is a result worth recording, not an error of this script.
  "$venv/bin/envkit" doctor --python "$target" --no-pretrained-backbone "${smoke[@]}" \
    --record "$out/doctor-$name" --redact-hostname --json > "$out/doctor-$name.json" || [ $? = 1 ]
  tar -C "$out" -czf "$out/recording.tgz" "detect-$name" "doctor-$name" "detect-$name.json" "doctor-$name.json"
  ls -la "$out"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  record) shift; record "$@" ;;
  *) sed -n '2,23p' "$0"; exit 2 ;;
esac
