#!/usr/bin/env bash
# Table 2 on the GPU machine (carry .deps; README "GPU build"), from the project root:
#   bash scripts/table2.sh
# Builds (incrementally), runs the CUDA-graph decode tests, then for the paper's four rows
# (configs/wmt14/{base,multi_query,multi_head_local,multi_query_local}.yaml): training, greedy and beam-4 decoding
# per output token (mqa bench), a large-batch multi-query greedy run (the 1.3x-of-floor goal), and the plain PyTorch
# baseline (scripts/baseline_decode.py) for multi-head and multi-query. Writes into $OUT: table2.jsonl (mqa),
# baseline.jsonl, table2.log, build.log, bench_cuda_tests.log and results.md (copy it to
# experiments/table2/results.md). Prints a short summary last. Expected 3-5 minutes on an H100.
# TABLE2_BATCH (128) and TABLE2_REPEATS (3) change the batch and the timed repeats.
set -uo pipefail
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
start=$(date +%s)
MQA_BUILD_LOG=$out/build.log source scripts/mqa_build.sh
tail -1 "$out/build.log"
mqa=$MQA
json=$out/table2.jsonl; baseline=$out/baseline.jsonl; log=$out/table2.log
rm -f "$json" "$baseline"
B=${TABLE2_BATCH:-128}; REPEATS=${TABLE2_REPEATS:-3}
common=(--set bench.warmup=1 --set bench.repeats="$REPEATS" --set bench.batch_size="$B" --set bench.source_len=128
        --set bench.target_len=128 --set bench.beam_size=4 --set bench.bucket=16 --set bench.device=cuda)
failed=0
# The graph path against the plain decode on this GPU first (a few seconds): a wrong graph would make every
# decode number meaningless.
./build-gpu/mqa_tests --gtest_filter='*BenchCuda*' > "$out/bench_cuda_tests.log" 2>&1 \
  && echo "BenchCuda tests passed" || { echo "BenchCuda tests FAILED:"; grep -E "Failure|Expected|Which|FAILED|error" -A3 "$out/bench_cuda_tests.log" | head -40; failed=$((failed + 1)); }
budget=${TABLE2_BUDGET:-480}  # seconds after which the remaining commands are skipped (the device call has 600)
run() {  # run LIMIT_SECONDS COMMAND...: log everything, keep going on failure
  local limit=$1; shift
  local elapsed=$(( $(date +%s) - start ))
  if [ $elapsed -ge $budget ]; then echo "SKIPPED (time budget, ${elapsed} s): $*" | tee -a "$log"; return; fi
  [ $limit -gt $(( budget + 60 - elapsed )) ] && limit=$(( budget + 60 - elapsed ))
  echo "== $*" >> "$log"
  timeout "$limit" "$@" >> "$log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then echo "FAILED (exit $rc): $*" | tee -a "$log"; tail -6 "$log" | grep -v "^FAILED"; failed=$((failed + 1)); fi
  grep -E "^  \| " "$log" | tail -2
}
for row in base multi_query multi_head_local multi_query_local; do
  run 100 $mqa bench decode configs/wmt14/$row.yaml --label $row "${common[@]}" --json "$json"
  run 80 $mqa bench train configs/wmt14/$row.yaml --label $row "${common[@]}" --json "$json"
done
run 60 $mqa bench decode configs/wmt14/multi_query.yaml --label multi_query --modes greedy "${common[@]}" \
  --set bench.batch_size=512 --json "$json"
for row in base multi_query; do
  run 120 python3 scripts/baseline_decode.py --config configs/wmt14/$row.yaml --label $row --batch "$B" \
    --source-len 128 --target-len 128 --beam-size 4 --warmup 1 --repeats "$REPEATS" --json "$baseline"
done
python3 scripts/table2_report.py --mqa "$json" --baseline "$baseline" --out "$out/results.md" --batch "$B" \
  2>&1 | tee -a "$log"
echo "table2.sh: $(( $(date +%s) - start )) s, $failed failed command(s); results in $out/results.md"
[ $failed -eq 0 ]
