#!/usr/bin/env bash
# Where a decode step's time goes, on the GPU machine (carry .deps; README "GPU build"), from the project root:
#   bash scripts/decode_profile.sh
# Profiles one generation (128 steps, CUDA graph as in scripts/table2.sh) of greedy decoding for multi-query and
# multi-head at batch 128 and multi-head at batch 1, and beam-4 multi-query at batch 128 (DECODE_PROFILES overrides:
# "row:mode:batch[:target_len] ...", e.g. "multi_query:greedy:1024:2048": a generation of that many steps, the
# model's position table raised to it), and sums each trace by kernel family (scripts/profile_report.py). Writes $OUT/decode_profile.md (copy it to experiments/table2/) and
# the traces ($OUT/profile_*.json).
set -uo pipefail
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
MQA_BUILD_LOG=$out/build.log source scripts/mqa_build.sh
mqa=$MQA
report=$out/decode_profile.md; log=$out/decode_profile.log
rm -f "$report"
common=(--set bench.warmup=1 --set bench.repeats=2 --set bench.source_len=128 --set bench.beam_size=4
        --set bench.check_graph=false --set bench.device=cuda)
profile() {  # profile ROW MODE BATCH [TARGET_LEN]
  local target=${4:-128}
  local prefix=$out/profile_$1_b$3${4:+_t$4}
  if timeout 120 $mqa bench decode configs/wmt14/$1.yaml --label "$1" --modes "$2" "${common[@]}" \
       --set bench.batch_size="$3" --set bench.target_len="$target" \
       --set model.max_positions=$(( target > 256 ? target : 256 )) --profile "$prefix" >> "$log" 2>&1; then
    grep -E "^  $2 " "$log" | tail -1
    python3 scripts/profile_report.py "$prefix.$2.json" --steps "$target" --top 20 \
      --label "$1 $2, B $3, S 128, T $target, one generation of $target steps (CUDA graphs)" --out "$report" > /dev/null
  else
    echo "FAILED: $1 $2 B $3"; tail -5 "$log"
  fi
}
for p in ${DECODE_PROFILES:-multi_query:greedy:128 base:greedy:128 base:greedy:1 multi_query:beam:128}; do
  IFS=: read -r row mode batch target <<< "$p"
  profile "$row" "$mode" "$batch" $target
done
grep -E "^Trace|^\| (matmul|attention|softmax|copy|elementwise|reduction|normal|other)" "$report"
