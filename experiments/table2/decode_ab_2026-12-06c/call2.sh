#!/usr/bin/env bash
# Session 7 call 2: Nsight Compute on the decode attention kernels.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
NCU=/usr/local/cuda/bin/ncu
sections="--section SpeedOfLight --section MemoryWorkloadAnalysis --section SchedulerStats --section WarpStateStats --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis --section SourceCounters"
bench() { echo "$MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches $1 --lengths $2 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda"; }
prof() {  # name env skip batch length
  local name=$1 envs=$2 skip=$3
  echo "== $name"
  env $envs timeout 170 $NCU --kernel-name regex:"pipelined_kernel|decode_attention_kernel" --launch-skip $skip --launch-count 2 $sections $(bench $4 $5) > $OUT/ncu_$name.txt 2>&1
  echo "rc $?"; grep -E "Duration|Memory Throughput|DRAM Throughput|Registers Per|Achieved Occupancy|Theoretical Occupancy|Issue Slots Busy|No Eligible|Warp Cycles Per Issued|Block Limit" $OUT/ncu_$name.txt | head -40
}
prof pipe_b1024_t512 "MQA_DECODE_PIPELINED=1" 4800 1024 512
prof wmma_b1024_t512 "MQA_DECODE_PIPELINED=0" 4800 1024 512
prof pipe_b128_t128 "MQA_DECODE_PIPELINED=1" 1200 128 128
prof wmma_b128_t128 "MQA_DECODE_PIPELINED=0" 1200 128 128
