#!/usr/bin/env bash
# A/B of one boolean training switch (issue 16) on the GPU machine:
#   bash scripts/train_switch_ab.sh KEY [CONFIG]      e.g. train.deferred_stats, train.background_save
# STEPS (default 500) steps of CONFIG (default the Table 1 base row, configs/wmt14/real/base.yaml, whose corpus
# scripts/table1_real.sh prepares: run it first, e.g. with TABLE_BUDGET=1 to prepare only), once with KEY true and
# once false, no validation, checkpoints only every SAVE_EVERY steps (default: none); prints steps/s after the first
# log window and the losses (equal: the same seed and data order). Logs go to $OUT (or /tmp/mqa-out).
# (Until 2026-12-06 this was scripts/deferred_stats_ab.sh, for train.deferred_stats only.)
set -uo pipefail
key=${1:?usage: bash scripts/train_switch_ab.sh KEY [CONFIG]}
config=${2:-configs/wmt14/real/base.yaml}
steps=${STEPS:-500}
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
source "$(dirname "$0")/mqa_build.sh"
for v in true false; do
  name=${key#train.}_$v
  rm -rf "/tmp/switch_ab_$name"
  "$MQA" train "$config" --run-dir "/tmp/switch_ab_$name" --set train.max_steps="$steps" \
    --set train.valid_every=100000 --set train.save_every="${SAVE_EVERY:-100000}" --set "$key=$v" \
    > "$out/switch_ab_$name.log" 2>&1 || { tail -5 "$out/switch_ab_$name.log"; exit 1; }
  echo "$key=$v: $(python3 "$(dirname "$0")/steps_per_second.py" "/tmp/switch_ab_$name/metrics.jsonl")"
  grep -m 3 "saved" "$out/switch_ab_$name.log"
done
