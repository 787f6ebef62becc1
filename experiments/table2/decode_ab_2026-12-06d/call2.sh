#!/usr/bin/env bash
# Session 8 call 2: v2 kernel (unrolled plain copies, cp.async without zero-fill, lazy rescale); A/B against v1
# (call 1's); ncu source at B1024 T1024 and B128 T128 (no cache flush, real clocks); SASS of the kernel.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
timeout 150 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*BenchCuda*:*CudaModel*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED|OK \]" $OUT/cuda_tests.log | tail -2
/usr/local/cuda/bin/cuobjdump -sass $bin/mqa 2>/dev/null | awk '/Function : /{f=($0 ~ /tensor_core_kernelILi16/)} f{print}' > $OUT/sass_tc16.txt
echo "sass lines $(wc -l < $OUT/sass_tc16.txt), LDGSTS $(grep -c LDGSTS $OUT/sass_tc16.txt), dummy LDS $(grep -c 'LDS RZ' $OUT/sass_tc16.txt)"
common=(--set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128 --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
bench() {  # name
  local name=$1
  timeout 100 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/sweep_ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  grep -hE "^  \|" $OUT/sweep_$name.log
  timeout 80 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" "${common[@]}" --json $OUT/table_ab.jsonl > $OUT/table_multi_query_$name.log 2>&1 || echo "FAILED $name"
  grep -hE "^  \|" $OUT/table_multi_query_$name.log
  echo "bench $name done at $(( $(date +%s) - T0 )) s"
}
bench v2
NCU=/usr/local/cuda/bin/ncu
timeout 100 $NCU --kernel-name regex:"tensor_core_kernel" --launch-skip 10800 --launch-count 1 --section SpeedOfLight --section WarpStateStats --section SourceCounters --page source --print-source sass --csv $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 1024 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_src_b1024_t1024.csv 2>&1
echo "ncu rc $? at $(( $(date +%s) - T0 )) s"; gzip -f $OUT/ncu_src_b1024_t1024.csv
timeout 80 $NCU --cache-control none --clock-control none --kernel-name regex:"tensor_core_kernel" --launch-skip 1200 --launch-count 2 --section SpeedOfLight --section WarpStateStats --section SourceCounters --page source --print-source sass --csv $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 128 --lengths 128 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_src_b128.csv 2>&1
echo "ncu2 rc $? at $(( $(date +%s) - T0 )) s"; gzip -f $OUT/ncu_src_b128.csv
timeout 60 $NCU --cache-control none --clock-control none --kernel-name regex:"tensor_core_kernel|greedy_pick|nvjet|layernorm" --launch-skip 2000 --launch-count 30 --section SpeedOfLight $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 128 --lengths 128 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_sol_b128.txt 2>&1
echo "ncu3 rc $? at $(( $(date +%s) - T0 )) s"; grep -E "^  [a-zA-Z_ ]*void|^  [a-z].*\(|^  nvjet|Duration|DRAM Throughput" $OUT/ncu_sol_b128.txt | head -100 | cut -c1-110
cp .carry/v1/decode_attention.cu src/mqa/kernels/decode_attention.cu
cmake --build build-gpu --target mqa > $OUT/rebuild.log 2>&1; echo "rebuild rc $? at $(( $(date +%s) - T0 )) s"
bench v1
cd $OUT && tar czf logs.tar.gz *.log *.txt 2>/dev/null; ls $OUT
