#!/usr/bin/env bash
# Session 9 call 2: programmatic dependent launch of the decode kernels; cross-attention split positions. Tests, then
# A/B by MQA_DECODE_PDL and MQA_EXP_MIN_SPLIT (same build, same machine).
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
echo "built at $(( $(date +%s) - T0 )) s"
timeout 150 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*:*BenchCuda*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED" $OUT/cuda_tests.log; grep -E "plain launches" $OUT/cuda_tests.log | head -4
run() {  # name
  local name=$1
  timeout 100 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  grep -hE "^  \|" $OUT/sweep_$name.log
  for row in multi_query base; do
    timeout 80 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" --set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128 --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda --set bench.check_graph=false --json $OUT/ab.jsonl > $OUT/table_${row}_$name.log 2>&1 || echo "FAILED $name $row"
    grep -hE "^  \|" $OUT/table_${row}_$name.log
  done
  echo "$name done at $(( $(date +%s) - T0 )) s"
}
MQA_DECODE_PDL=1 MQA_EXP_MIN_SPLIT=128 run pdl1_ms128
MQA_DECODE_PDL=0 MQA_EXP_MIN_SPLIT=128 run pdl0_ms128
MQA_DECODE_PDL=1 MQA_EXP_MIN_SPLIT=64 run pdl1_ms64
MQA_DECODE_PDL=1 MQA_EXP_MIN_SPLIT=32 run pdl1_ms32
MQA_DECODE_PDL=0 MQA_EXP_MIN_SPLIT=128 run pdl0_ms128_again
cd $OUT && tar czf logs.tar.gz *.log 2>/dev/null; ls $OUT
