#!/usr/bin/env bash
# Session 8 call 3: GEMM shapes of the decode step under cuBLAS settings; the same settings on mqa at batch 1024;
# a kernel profile of the step at B 1024 T 128 with this session's kernels.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
python3 .carry/gemm_bench.py default 2>&1 | tail -2
PYTORCH_TUNABLEOP_ENABLED=1 PYTORCH_TUNABLEOP_FILENAME=$OUT/tunable_py.csv python3 .carry/gemm_bench.py tunableop 2>&1 | tail -2
TORCH_BLAS_PREFER_CUBLASLT=1 python3 .carry/gemm_bench.py prefer_lt 2>&1 | tail -2
CUBLASLT_WORKSPACE_SIZE=262144 python3 .carry/gemm_bench.py lt_ws256m 2>&1 | tail -2
echo "gemm bench done at $(( $(date +%s) - T0 )) s"
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
timeout 100 $bin/mqa_tests --gtest_filter='DecodeKernels.*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"; grep -E "^\[  PASSED|FAILED" $OUT/cuda_tests.log | head -5
ab() {  # name envs...
  local name=$1; shift
  env "$@" timeout 100 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/env_ab.jsonl > $OUT/env_$name.log 2>&1 || echo "FAILED $name"
  grep -hE "^  \|" $OUT/env_$name.log; echo "  ($name at $(( $(date +%s) - T0 )) s)"
}
ab default A=1
ab tunableop PYTORCH_TUNABLEOP_ENABLED=1 PYTORCH_TUNABLEOP_FILENAME=$OUT/tunable_mqa.csv
ab prefer_lt TORCH_BLAS_PREFER_CUBLASLT=1
DECODE_PROFILES="multi_query:greedy:1024:128" bash scripts/decode_profile.sh > /dev/null 2>&1; sed -n 1,45p $OUT/decode_profile.md | cut -c1-200
echo "profile done at $(( $(date +%s) - T0 )) s"
rm -f $OUT/profile_*.json
cd $OUT && tar czf logs.tar.gz *.log *.csv *.md 2>/dev/null; ls $OUT
