#!/usr/bin/env bash
# Session 7 call 6: where multi-query greedy's time goes at batch 1024, 1024 positions (after the tensor-core kernel
# rewrite), and Nsight Compute on that kernel at a late step.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
timeout 150 $MQA bench decode configs/wmt14/multi_query.yaml --label multi_query --modes greedy --set bench.warmup=1 --set bench.repeats=1 --set bench.batch_size=1024 --set bench.source_len=128 --set bench.target_len=1024 --set bench.check_graph=false --set bench.device=cuda --profile $OUT/profile_b1024_t1024 > $OUT/profile.log 2>&1; echo "profile rc $?"; grep -E "^  \|" $OUT/profile.log
python3 scripts/profile_report.py $OUT/profile_b1024_t1024.greedy.json --steps 1024 --top 12 --label "multi_query greedy, B 1024, S 128, T 1024, one generation of 1024 steps (CUDA graphs)" --out $OUT/decode_profile_b1024_t1024.md > /dev/null 2>&1; sed -n 1,30p $OUT/decode_profile_b1024_t1024.md
rm -f $OUT/profile_*.json
NCU=/usr/local/cuda/bin/ncu
timeout 200 $NCU --kernel-name regex:"tensor_core_kernel" --launch-skip 10800 --launch-count 2 --section SpeedOfLight --section MemoryWorkloadAnalysis --section SchedulerStats --section WarpStateStats --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 1024 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_tc_b1024_t1024.txt 2>&1
echo "ncu rc $?"; grep -E "Duration|DRAM Throughput|Memory Throughput|Issue Slots Busy|Achieved Occupancy|Registers Per|Waves Per SM|Warp Cycles Per Issued" $OUT/ncu_tc_b1024_t1024.txt
