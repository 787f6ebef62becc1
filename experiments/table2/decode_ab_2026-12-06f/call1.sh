#!/usr/bin/env bash
# Session 10 call 1: (a) standalone: how fast a 33-67 MB read can be on this GPU, against the shapes of our attention
# launches and greedy pick (.carry/bw_bench.cu); (b) Nsight Compute, full set, on the cross-attention launch and the
# greedy pick of multi-query greedy decoding at B 1024, T 128.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
NVCC=/usr/local/cuda/bin/nvcc; [[ -x $NVCC ]] || NVCC=$(which nvcc)
$NVCC -std=c++17 -O3 -arch=sm_90 .carry/bw_bench.cu -o /tmp/bw_bench 2>&1 | grep -v deprecated | tail -5
/tmp/bw_bench 2>&1 | tee $OUT/bw_bench.txt
echo "bench done at $(( $(date +%s) - T0 )) s"
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
echo "built at $(( $(date +%s) - T0 )) s"
NCU=/usr/local/cuda/bin/ncu
B="bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 128 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda"
timeout 150 $NCU --kernel-name regex:"tensor_core_kernel" --launch-skip 1201 --launch-count 2 --set full $MQA $B > $OUT/ncu_attention_full.txt 2>&1; echo "ncu attention rc $? at $(( $(date +%s) - T0 )) s"
timeout 100 $NCU --kernel-name regex:"greedy_pick" --launch-skip 100 --launch-count 1 --set full $MQA $B > $OUT/ncu_pick_full.txt 2>&1; echo "ncu pick rc $? at $(( $(date +%s) - T0 )) s"
grep -E "Duration|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Block Limit|Registers Per|Stall|Waves Per SM|L2 Hit|Mem Busy|Max Bandwidth|Issue Slots" $OUT/ncu_attention_full.txt | head -60
grep -E "Duration|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Block Limit|Waves Per SM|L2 Hit" $OUT/ncu_pick_full.txt | head -20
