#!/usr/bin/env bash
# On the GPU machine (carry .deps; README "GPU build"): build against PyTorch's LibTorch + CUDA (scripts/mqa_build.sh),
# print `mqa env`, and run the CUDA tests and the model tests. Logs go to $OUT (or /tmp/mqa-out).
set -uo pipefail
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
MQA_BUILD_LOG=$out/build.log source scripts/mqa_build.sh
tail -3 "$out/build.log"
"$MQA" env | tee "$out/env.txt"
filter=${MQA_GPU_TESTS:-*Cuda*:DecodeKernels.*:*CachedDecoding*:Attention*:Transformer.*}
"$(dirname "$MQA")/mqa_tests" --gtest_filter="$filter" \
  > "$out/tests.log" 2>&1; rc=$?
grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED  \]|Failure" "$out/tests.log" | head -40
python3 -c 'import sacrebleu; print("sacrebleu", sacrebleu.__version__)' 2>&1 | tail -1
exit $rc
