#!/usr/bin/env bash
# ctest: issue 5's acceptance on the real quickstart. Trains `configs/quickstart.yaml` from scratch in a temporary
# directory (~6 minutes on 2 cores), then scripts/beam_vs_greedy.sh checks that beam 4 scores no sentence of the
# quickstart test set (500) below greedy. Usage: quickstart_beam_vs_greedy.sh MQA_EXECUTABLE
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export MQA=$(realpath "${1:?usage: quickstart_beam_vs_greedy.sh MQA_EXECUTABLE}")
work=$(mktemp -d "${TMPDIR:-/tmp}/mqa_quickstart.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$MQA" train "$root/configs/quickstart.yaml" > train.log 2>&1 || { tail -40 train.log; exit 1; }
tail -3 train.log
bash "$root/scripts/beam_vs_greedy.sh" runs/quickstart/checkpoint_last.pt data/quickstart/test.src.txt
