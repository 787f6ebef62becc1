#!/usr/bin/env bash
# On the GPU machine (carry .deps, see ../shared/gpu/README.md): build against PyTorch's LibTorch + CUDA, print
# `mqa env`, and run the CUDA tests and the model tests. Logs go to $OUT (or /tmp/mqa-out).
set -uo pipefail
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
bash .deps/build-on-gpu.sh > "$out/build.log" 2>&1 || { tail -60 "$out/build.log"; exit 1; }
tail -3 "$out/build.log"
export LD_LIBRARY_PATH=/opt/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
./build-gpu/mqa env | tee "$out/env.txt"
./build-gpu/mqa_tests --gtest_filter="${MQA_GPU_TESTS:-*Cuda*:*CachedDecoding*:Attention*:Transformer.*}" \
  > "$out/tests.log" 2>&1; rc=$?
grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED  \]|Failure" "$out/tests.log" | head -40
python3 -c 'import sacrebleu; print("sacrebleu", sacrebleu.__version__)' 2>&1 | tail -1
exit $rc
