#!/usr/bin/env bash
# Session 10 call 4: bulk copies (cp.async.bulk + mbarrier) for the tensor-core attention kernel's plain tiles against
# HEAD's cp.async copies (.carry/old10/decode_attention.cu), both with the new greedy pick: CUDA decode tests, then both
# builds on this machine: multi-query greedy at B {128, 1024} x T {128, 2048} (beam-4 left out: device time).
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
touch src/mqa/kernels/*.cu src/mqa/decode/*.cpp
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
echo "built at $(( $(date +%s) - T0 )) s"
timeout 60 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*:*BenchCuda*' > $OUT/cuda_tests.log 2>&1; tests_rc=$?
echo "tests rc $tests_rc at $(( $(date +%s) - T0 )) s"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED" $OUT/cuda_tests.log
run() {  # name row
  local name=$1 row=$2
  timeout 60 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/sweep_ab.jsonl > $OUT/sweep_${row}_$name.log 2>&1 || echo "FAILED sweep $row $name"
  grep -hE "^  \|" $OUT/sweep_${row}_$name.log
  echo "$row $name sweep done at $(( $(date +%s) - T0 )) s"
}
run bulk multi_query
if [ $(( $(date +%s) - T0 )) -gt 150 ]; then echo "A/B second build skipped (device time)"; cd $OUT && tar czf logs.tar.gz *.log; exit 0; fi
cp .carry/old10/decode_attention.cu src/mqa/kernels/decode_attention.cu; touch src/mqa/kernels/decode_attention.cu
cmake --build build-gpu --target mqa > $OUT/rebuild.log 2>&1; echo "rebuild rc $? at $(( $(date +%s) - T0 )) s"
run cp_async multi_query
cd $OUT && tar czf logs.tar.gz *.log 2>/dev/null && rm -f sweep_*.log beam_*.log build.log rebuild*.log; ls $OUT
