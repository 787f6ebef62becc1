#!/usr/bin/env bash
# Session 8 call 1: tests of the leaner attention kernel and greedy/beam picks; A/B against HEAD's kernels; ncu.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
timeout 150 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*BenchCuda*:*CudaModel*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED|OK \]" $OUT/cuda_tests.log | tail -2; grep -E "max \|" $OUT/cuda_tests.log | head -40
common=(--set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128 --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
bench() {  # name
  local name=$1
  timeout 100 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/sweep_ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  grep -hE "^  \|" $OUT/sweep_$name.log
  for row in multi_query base; do
    timeout 80 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" "${common[@]}" --json $OUT/table_ab.jsonl > $OUT/table_${row}_$name.log 2>&1 || echo "FAILED $name $row"
    grep -hE "^  \|" $OUT/table_${row}_$name.log
  done
  echo "bench $name done at $(( $(date +%s) - T0 )) s"
}
bench new
NCU=/usr/local/cuda/bin/ncu
timeout 100 $NCU --kernel-name regex:"tensor_core_kernel" --launch-skip 10800 --launch-count 1 --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section SourceCounters --page source --print-source sass --csv $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 1024 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_src_b1024_t1024.csv 2>&1
echo "ncu rc $? at $(( $(date +%s) - T0 )) s"; gzip -f $OUT/ncu_src_b1024_t1024.csv
timeout 60 $NCU --kernel-name regex:"tensor_core_kernel|greedy_pick" --launch-skip 1200 --launch-count 3 --section SpeedOfLight $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 128 --lengths 128 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_sol_b128.txt 2>&1
echo "ncu2 rc $? at $(( $(date +%s) - T0 )) s"; grep -E "^  [a-z_ ]*void|^  [a-z].*\(|Duration|DRAM Throughput" $OUT/ncu_sol_b128.txt | head -20
# HEAD's kernels, same machine
for f in decode_attention.cu step_kernels.cu bf16_vector.cuh; do cp .carry/old/$f src/mqa/kernels/$f; done
cmake --build build-gpu --target mqa > $OUT/rebuild.log 2>&1; echo "rebuild rc $? at $(( $(date +%s) - T0 )) s"
bench head
cd $OUT && tar czf logs.tar.gz *.log *.txt 2>/dev/null; ls $OUT
