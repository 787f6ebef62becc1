#!/usr/bin/env bash
# Session 7 call 5: tests (adaptive splits, pick loads), cuBLAS env A/B, profile.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
timeout 200 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*BenchCuda*:*CudaModel*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $?"; grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -20; grep -E "^\[  PASSED|OK \]" $OUT/cuda_tests.log | tail -3
common=(--set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128 --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
ab() {
  local name=$1; shift
  for row in multi_query base; do
    env "$@" timeout 90 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" "${common[@]}" --json $OUT/ab.jsonl > $OUT/ab_${row}_$name.log 2>&1 || { echo "FAILED $name $row"; tail -3 $OUT/ab_${row}_$name.log; }
    grep -hE "^  \|" $OUT/ab_${row}_$name.log
  done
}
ab default A=1
ab cublaslt TORCH_BLAS_PREFER_CUBLASLT=1
ab tunableop PYTORCH_TUNABLEOP_ENABLED=1 PYTORCH_TUNABLEOP_FILENAME=$OUT/tunableop.csv
ab no_addmm_lt DISABLE_ADDMM_CUDA_LT=1
DECODE_PROFILES="multi_query:greedy:128" bash scripts/decode_profile.sh > /dev/null 2>&1; sed -n 1,40p $OUT/decode_profile.md
rm -f $OUT/profile_*.json
tar czf $OUT/logs.tar.gz -C $OUT $(cd $OUT && ls *.log *.csv 2>/dev/null)
