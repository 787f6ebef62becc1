#!/usr/bin/env bash
# Session 7 call 3: pipelined kernel v2 (copies without divisions, two score accumulators); stages and split A/B.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
timeout 200 $bin/mqa_tests --gtest_filter='DecodeKernels.*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $?"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -20; grep -c "OK \]" $OUT/cuda_tests.log
ab() {  # name envs...
  local name=$1; shift
  env "$@" timeout 90 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/sweep_ab.jsonl > $OUT/sweep_$name.log 2>&1
  env "$@" timeout 60 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128 --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda --json $OUT/table_ab.jsonl > $OUT/table_$name.log 2>&1
  grep -hE "^  \|" $OUT/sweep_$name.log $OUT/table_$name.log
}
ab s3_split2 MQA_EXP_STAGES=3
ab s2_split2 MQA_EXP_STAGES=2
ab s2_split1 MQA_EXP_STAGES=2 MQA_EXP_SPLIT_CTAS=0
ab s3_split1 MQA_EXP_STAGES=3 MQA_EXP_SPLIT_CTAS=0
ab s2_split4 MQA_EXP_STAGES=2 MQA_EXP_SPLIT_CTAS=4
ab wmma MQA_DECODE_PIPELINED=0
ab wmma_split1 MQA_DECODE_PIPELINED=0 MQA_EXP_SPLIT_CTAS=0
NCU=/usr/local/cuda/bin/ncu
timeout 120 $NCU --kernel-name regex:"pipelined_kernel" --launch-skip 1200 --launch-count 1 --section WarpStateStats --section SourceCounters --section SpeedOfLight --page source --print-source sass --csv $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 128 --lengths 128 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_source_b128.csv 2>&1
echo "ncu rc $? $(wc -l < $OUT/ncu_source_b128.csv) lines"
gzip $OUT/ncu_source_b128.csv
