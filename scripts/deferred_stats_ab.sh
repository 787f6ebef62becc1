#!/usr/bin/env bash
# A/B of train.deferred_stats (issue 16) on the GPU machine: STEPS (default 500) steps of a config (default the
# Table 1 base row, configs/wmt14/real/base.yaml, whose corpus scripts/table1_real.sh prepares: run it first, e.g.
# with TABLE_BUDGET=1 to prepare only), once reading each step's loss one step late (true) and once at once
# (false), no validation or checkpoint; prints steps/s after the first log window and the losses (equal: the same
# seed and data order). Logs go to $OUT (or /tmp/mqa-out).
set -uo pipefail
config=${1:-configs/wmt14/real/base.yaml}
steps=${STEPS:-500}
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
source "$(dirname "$0")/mqa_build.sh"
for d in true false; do
  rm -rf "/tmp/deferred_ab_$d"
  "$MQA" train "$config" --run-dir "/tmp/deferred_ab_$d" --set train.max_steps="$steps" \
    --set train.valid_every=100000 --set train.save_every=100000 --set train.deferred_stats=$d \
    > "$out/deferred_ab_$d.log" 2>&1 || { tail -5 "$out/deferred_ab_$d.log"; exit 1; }
  echo "deferred_stats=$d: $(python3 "$(dirname "$0")/steps_per_second.py" "/tmp/deferred_ab_$d/metrics.jsonl")"
done
