#!/usr/bin/env bash
# Thirteenth session, the last device call: beam candidates by a threshold (NOTES item 49) on the final tree: the CUDA
# decode tests; table2.sh's rows base and multi_query (greedy and beam 4 at B 128, 3 repeats); the kernel profile of
# multi-query beam 4 at B 128 (scripts/decode_profile.sh; call_final.sh's profile is the same step with the
# per-thread lists). Carry .deps. ~170 s of run on an H100.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
echo "built at $(( $(date +%s) - T0 )) s"
timeout 200 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*:*BenchCuda*:FastDivisor.*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"
grep -E "beam candidates|FAILED|Failure|^\[  PASSED" -A2 $OUT/cuda_tests.log | tail -24
common=(--set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128
        --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
for row in base multi_query; do
  timeout 40 $MQA bench decode configs/wmt14/$row.yaml --label "$row" "${common[@]}" --json $OUT/rows.jsonl 2>&1 | grep -E "^  (greedy|beam) "
done
echo "rows done at $(( $(date +%s) - T0 )) s"
DECODE_PROFILES="multi_query:beam:128" timeout 120 bash scripts/decode_profile.sh 2>&1 | tail -10
grep -E "beam_candidates|beam_update" $OUT/decode_profile.md | head -2
rm -f $OUT/profile_*.json
cd $OUT && tar czf logs.tar.gz *.log 2>/dev/null && rm -f *.log; echo "done at $(( $(date +%s) - T0 )) s"
