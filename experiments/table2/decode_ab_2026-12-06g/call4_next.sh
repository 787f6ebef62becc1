#!/usr/bin/env bash
# Written in the eleventh session, not run (no device time left): the A/B of next_narrow_kernel.diff.txt (NOTES
# item 41). From the project root with the diff applied to src/mqa/kernels/decode_attention.cu and HEAD's file copied
# to .carry/s12/decode_attention_head.cu (carry .deps and .carry/s12): the CUDA decode tests on the narrow build,
# then both builds on one machine: table2.sh's rows base and multi_query (B 128, 3 repeats) and multi-query greedy
# at B {128, 1024} x T {128, 2048}.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
touch src/mqa/kernels/*.cu src/mqa/decode/*.cpp
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
timeout 120 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*:*BenchCuda*:FastDivisor.*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"
grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED" $OUT/cuda_tests.log
common=(--set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128
        --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
ab() {  # name
  local name=$1
  for row in base multi_query; do
    timeout 40 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" "${common[@]}" --json $OUT/ab.jsonl > $OUT/rows_${row}_$name.log 2>&1 || echo "FAILED rows $row $name"
  done
  timeout 60 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  grep -hE "^  \|" $OUT/sweep_$name.log
  echo "$name done at $(( $(date +%s) - T0 )) s"
}
ab narrow
cp src/mqa/kernels/decode_attention.cu $OUT/decode_attention_narrow.cu
cp .carry/s12/decode_attention_head.cu src/mqa/kernels/decode_attention.cu; touch src/mqa/kernels/decode_attention.cu
cmake --build build-gpu --target mqa > $OUT/rebuild_head.log 2>&1; echo "rebuild head rc $? at $(( $(date +%s) - T0 )) s"
ab head
cp $OUT/decode_attention_narrow.cu src/mqa/kernels/decode_attention.cu
cd $OUT && tar czf logs.tar.gz *.log 2>/dev/null && rm -f *.log decode_attention_narrow.cu; ls $OUT
