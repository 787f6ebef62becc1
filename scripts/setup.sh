#!/usr/bin/env bash
# Installs mqa's Debian 12 packages when missing, then configures and builds into build/. Idempotent: a second
# run only rebuilds what changed. Usage: bash scripts/setup.sh [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs="libtorch-dev libsentencepiece-dev libfmt-dev libcli11-dev libyaml-cpp-dev libgtest-dev libgmock-dev libgloo-dev
      cmake ninja-build ccache g++"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
# Two jobs: a LibTorch translation unit takes about 1.5 GB of memory and 10-15 s of one core.
cmake --build build -j "${MQA_BUILD_JOBS:-$(nproc)}"
echo "setup: built build/mqa, build/mqa_tests and build/libmqa_spm.so"
