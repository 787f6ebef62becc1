#!/usr/bin/env bash
# Downloads, on a Debian 12 machine with apt, the .deb files of the packages mqa needs besides LibTorch
# (SentencePiece, yaml-cpp, fmt, CLI11, GoogleTest and their runtime libraries) into DIR (default .deps/debs, which
# git ignores), for a machine without apt or network: carry DIR there and build with
#     bash scripts/setup.sh --libtorch python --debs DIR        (README "GPU build")
# Nothing is installed here. About 2 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.deps/debs}
case $dir in -h|--help) sed -n '2,7p' "$0"; exit 0 ;; esac
command -v apt-get > /dev/null 2>&1 || { echo "fetch_debs: error: needs apt-get (a Debian 12 machine)" >&2; exit 1; }
mkdir -p "$dir"
pkgs="libsentencepiece-dev libsentencepiece0 libyaml-cpp-dev libyaml-cpp0.7 libfmt-dev libfmt9 libcli11-dev libgtest-dev
      libgmock-dev"
missing=""
for p in $pkgs; do compgen -G "$dir/${p}_*.deb" > /dev/null || missing="$missing $p"; done
if [[ -n $missing ]]; then
  [[ -n $(ls /var/lib/apt/lists/*Packages* 2>/dev/null) ]] || apt-get update -qq
  (cd "$dir" && apt-get download $missing 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
fi
for p in $pkgs; do compgen -G "$dir/${p}_*.deb" > /dev/null || { echo "fetch_debs: error: $p was not downloaded" >&2; exit 1; }; done
echo "fetch_debs: $(ls "$dir"/*.deb | wc -l) .debs in $dir ($(du -sh "$dir" | cut -f1))"
