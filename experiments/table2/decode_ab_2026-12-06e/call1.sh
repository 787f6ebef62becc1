#!/usr/bin/env bash
# Session 9 call 1: two-lane decode steps (two half-batches in two streams): tests, then A/B by MQA_DECODE_TWO_STREAMS.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
echo "built at $(( $(date +%s) - T0 )) s"
timeout 150 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED" $OUT/cuda_tests.log; grep -E "two streams" $OUT/cuda_tests.log
sweep() {  # name row batches lengths
  local name=$1 row=$2
  timeout 120 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" --modes greedy --batches $3 --lengths $4 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/sweep_ab.jsonl > $OUT/sweep_${row}_$name.log 2>&1 || echo "FAILED sweep $row $name"
  grep -hE "^  \|" $OUT/sweep_${row}_$name.log
  echo "$row $name done at $(( $(date +%s) - T0 )) s"
}
for s in 1 0; do
  export MQA_DECODE_TWO_STREAMS=$s
  sweep lanes$s multi_query 128,1024 128,2048
  sweep lanes$s base 1024 128
done
# check_graph on (graph == eager) at B 1024 with two lanes
MQA_DECODE_TWO_STREAMS=1 timeout 60 $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 128 --set bench.warmup=1 --set bench.repeats=1 --set bench.source_len=128 --set bench.device=cuda > $OUT/check_graph.log 2>&1; echo "check_graph rc $?"; grep -hE "^  \|" $OUT/check_graph.log
cd $OUT && tar czf logs.tar.gz *.log 2>/dev/null; ls $OUT
