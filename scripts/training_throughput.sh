#!/usr/bin/env bash
# Issue 6 on the GPU machine (carry .deps; README "GPU build"), from the project root:
#   bash scripts/training_throughput.sh
# The paper's baseline (configs/wmt14/base.yaml) training in bf16 autocast with fp32 master weights and Adam, at
# source = target = 256 tokens: tokens/s and MFU for growing batch sizes until one does not fit (out of memory),
# then one step under the kernel profiler at the best batch. Writes into $OUT: throughput.jsonl, throughput.log,
# train_profile.train.json (Chrome trace) and train_profile.md (scripts/profile_report.py). Copy the .jsonl, .log
# and .md to experiments/training-throughput/.
set -uo pipefail
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
MQA_BUILD_LOG=$out/build.log source scripts/mqa_build.sh
mqa=$MQA
json=$out/throughput.jsonl; log=$out/throughput.log
rm -f "$json"
common=(--set bench.warmup=2 --set bench.repeats=5 --set bench.source_len=256 --set bench.target_len=256
        --set bench.device=cuda)
best_batch=0; best_mfu=0
for batch in ${TRAIN_BATCHES:-32 64 96 128 160 192 256}; do
  echo "== batch $batch" | tee -a "$log"
  if timeout 150 $mqa bench train configs/wmt14/base.yaml --label base_s256 "${common[@]}" \
       --set bench.train_batch_size="$batch" --json "$json" >> "$log" 2>&1; then
    line=$(grep "^bench train" "$log" | tail -1); echo "$line"
    mfu=$(tail -1 "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mfu"])')
    if python3 -c "import sys; sys.exit(0 if $mfu > $best_mfu else 1)"; then best_mfu=$mfu; best_batch=$batch; fi
  else
    echo "batch $batch failed (largest that fits is the previous one):"; grep -iE "out of memory|error" "$log" | tail -2
    break
  fi
done
echo "best MFU $best_mfu at batch $best_batch"
if [ "$best_batch" -gt 0 ]; then
  timeout 150 $mqa bench train configs/wmt14/base.yaml --label base_s256_profiled "${common[@]}" \
    --set bench.repeats=1 --set bench.train_batch_size="$best_batch" --profile "$out/train_profile" >> "$log" 2>&1 \
    && python3 scripts/profile_report.py "$out/train_profile.train.json" --steps 1 \
         --label "base, B $best_batch, S = T = 256, one training step" --out "$out/train_profile.md" | head -40
fi
