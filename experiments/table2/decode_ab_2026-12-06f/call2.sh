#!/usr/bin/env bash
# Session 10 call 2: the greedy pick's branch-free fast path (step_kernels.cu) against HEAD's (.carry/old10):
# CUDA decode tests, then both builds on this machine; Nsight Compute on the new pick and the SASS-level source counters
# of the cross-attention launch (B 1024, T 128, multi-query greedy).
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
touch src/mqa/kernels/*.cu
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
echo "built at $(( $(date +%s) - T0 )) s"
timeout 150 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*:*BenchCuda*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED|greedy pick V" $OUT/cuda_tests.log
run() {  # name
  local name=$1
  timeout 100 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  grep -hE "^  \|" $OUT/sweep_$name.log
  timeout 100 $MQA bench decode configs/wmt14/base.yaml --label "base@$name" --modes greedy --batches 128,1024 --lengths 128 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/ab.jsonl > $OUT/sweep_base_$name.log 2>&1 || echo "FAILED sweep base $name"
  grep -hE "^  \|" $OUT/sweep_base_$name.log
  echo "$name done at $(( $(date +%s) - T0 )) s"
}
run new
NCU=/usr/local/cuda/bin/ncu
B="bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 128 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda"
timeout 60 $NCU --kernel-name regex:"greedy_pick" --launch-skip 100 --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section LaunchStats $MQA $B > $OUT/ncu_pick_new.txt 2>&1; grep -E "Duration|DRAM Throughput|Compute \(SM\)|Registers|Issue Slots" $OUT/ncu_pick_new.txt
timeout 100 $NCU --kernel-name regex:"tensor_core_kernel" --launch-skip 1201 --launch-count 1 --section SpeedOfLight --section WarpStateStats --section SourceCounters --page source --print-source sass --csv $MQA $B > $OUT/ncu_src_cross_b1024.csv 2>&1; echo "ncu src rc $? at $(( $(date +%s) - T0 )) s"; gzip -f $OUT/ncu_src_cross_b1024.csv
cp .carry/old10/step_kernels.cu src/mqa/kernels/step_kernels.cu; touch src/mqa/kernels/step_kernels.cu
cmake --build build-gpu --target mqa > $OUT/rebuild.log 2>&1; echo "rebuild rc $? at $(( $(date +%s) - T0 )) s"
run old
timeout 60 $NCU --kernel-name regex:"greedy_pick" --launch-skip 100 --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section LaunchStats $MQA $B > $OUT/ncu_pick_old.txt 2>&1; grep -E "Duration|DRAM Throughput|Compute \(SM\)|Registers|Issue Slots" $OUT/ncu_pick_old.txt
cd $OUT && tar czf logs.tar.gz *.log *.txt 2>/dev/null && rm -f sweep_*.log build.log rebuild.log *.txt; ls $OUT
