#!/usr/bin/env bash
# Session 9 call 3: cross-attention keys/values stored layer-major ([layers, B, S, w]) against interleaved by layer
# ([B, S, layers * w], HEAD's engine.cpp / decode_ops.cpp in .carry/old9): tests, then both builds on this machine.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
echo "built at $(( $(date +%s) - T0 )) s"
timeout 150 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*:*BenchCuda*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED" $OUT/cuda_tests.log; grep -E "cross-attention .*default \]" $OUT/cuda_tests.log | head -12
run() {  # name
  local name=$1
  timeout 100 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  grep -hE "^  \|" $OUT/sweep_$name.log
  timeout 100 $MQA bench decode configs/wmt14/base.yaml --label "base@$name" --modes greedy --batches 1024 --lengths 128 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/ab.jsonl > $OUT/sweep_base_$name.log 2>&1 || echo "FAILED sweep base $name"
  grep -hE "^  \|" $OUT/sweep_base_$name.log
  for row in multi_query base; do
    timeout 80 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" --set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128 --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda --set bench.check_graph=false --json $OUT/ab.jsonl > $OUT/table_${row}_$name.log 2>&1 || echo "FAILED $name $row"
    grep -hE "^  \|" $OUT/table_${row}_$name.log
  done
  echo "$name done at $(( $(date +%s) - T0 )) s"
}
run layer_major
NCU=/usr/local/cuda/bin/ncu
timeout 60 $NCU --kernel-name regex:"tensor_core_kernel" --launch-skip 1201 --launch-count 2 --section SpeedOfLight $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 128 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_new.txt 2>&1; grep -E "tensor_core|Duration|DRAM Throughput|Grid Size" $OUT/ncu_new.txt | head -12
cp .carry/old9/decode_ops.cpp src/mqa/decode/decode_ops.cpp; cp .carry/old9/engine.cpp src/mqa/decode/engine.cpp
cmake --build build-gpu --target mqa > $OUT/rebuild.log 2>&1; echo "rebuild rc $? at $(( $(date +%s) - T0 )) s"
run interleaved
timeout 60 $NCU --kernel-name regex:"tensor_core_kernel" --launch-skip 1201 --launch-count 2 --section SpeedOfLight $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 128 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_old.txt 2>&1; grep -E "tensor_core|Duration|DRAM Throughput|Grid Size" $OUT/ncu_old.txt | head -12
cd $OUT && tar czf logs.tar.gz *.log *.txt 2>/dev/null; ls $OUT
