#!/usr/bin/env bash
# Session 8 call 4: persistent tensor-core kernel (cross-item prefetch) against v1 (call 1).
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
timeout 200 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*BenchCuda*:*CudaModel*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED|OK \]" $OUT/cuda_tests.log | tail -2; grep -E "many_|PASSED|FAILED" $OUT/cuda_tests.log | head -40
common=(--set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128 --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
bench() {  # name
  local name=$1
  timeout 100 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/sweep_ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  grep -hE "^  \|" $OUT/sweep_$name.log
  timeout 80 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" "${common[@]}" --json $OUT/table_ab.jsonl > $OUT/table_multi_query_$name.log 2>&1 || echo "FAILED $name"
  grep -hE "^  \|" $OUT/table_multi_query_$name.log
  echo "bench $name done at $(( $(date +%s) - T0 )) s"
}
bench persistent
cp .carry/v1/decode_attention.cu src/mqa/kernels/decode_attention.cu
cmake --build build-gpu --target mqa > $OUT/rebuild.log 2>&1; echo "rebuild rc $? at $(( $(date +%s) - T0 )) s"
bench v1
cd $OUT && tar czf logs.tar.gz *.log *.txt 2>/dev/null; ls $OUT
