#!/usr/bin/env bash
# Session 11 call 3: three builds of decode_attention.cu on one machine, all with this session's step_kernels.cu:
#   c:     multiply-and-shift divisions in the tensor-core kernel's setup and end, no bulk copies; the CUDA-core kernel
#          (multi-head) with the compiler's divisions (HEAD's registers: call 2 saw multi-head greedy 2.9% slower with
#          the multiply-and-shift ones) (.carry/s11/decode_attention_c.cu, the working tree)
#   head:  HEAD's (.carry/s11/decode_attention_head.cu)
#   new:   call 2's: bulk copies + multiply-and-shift everywhere (.carry/s11/decode_attention_fastdiv.cu)
# CUDA decode tests on c; then per build table2.sh's rows base and multi_query (greedy, beam 4, B 128, 3 repeats) and
# multi-query greedy at B {128, 1024} x T {128, 2048}.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
touch src/mqa/kernels/*.cu src/mqa/decode/*.cpp
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
echo "built at $(( $(date +%s) - T0 )) s"
timeout 120 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*:*BenchCuda*:FastDivisor.*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"
grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED" $OUT/cuda_tests.log
common=(--set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128
        --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
ab() {  # name
  local name=$1
  for row in base multi_query; do
    timeout 40 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" "${common[@]}" --json $OUT/ab.jsonl > $OUT/rows_${row}_$name.log 2>&1 || echo "FAILED rows $row $name"
  done
  timeout 60 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  echo "$name done at $(( $(date +%s) - T0 )) s"
}
swap() {  # attention name
  cp $1 src/mqa/kernels/decode_attention.cu; touch src/mqa/kernels/decode_attention.cu
  cmake --build build-gpu --target mqa > $OUT/rebuild_$2.log 2>&1; echo "rebuild $2 rc $? at $(( $(date +%s) - T0 )) s"
}
ab c
if [ $(( $(date +%s) - T0 )) -lt 420 ]; then swap .carry/s11/decode_attention_head.cu head; ab head; fi
if [ $(( $(date +%s) - T0 )) -lt 470 ]; then swap .carry/s11/decode_attention_fastdiv.cu new; ab new; fi
python3 - $OUT/ab.jsonl <<'PY' | tee $OUT/ab_table.txt
import json, sys
us = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "decode":
        row, _, ab = r["label"].partition("@")
        us[(row, r["mode"], r["batch"], r["target_len"], r["sweep"], ab)] = r["decoder_us_per_token"]
names = ["c", "head", "new"]
print("| row | mode | B | T | sweep | " + " | ".join(names) + " | c / head | new / head |")
for k in sorted({k[:5] for k in us}):
    v = [us.get(k + (n,)) for n in names]
    f = lambda x: f"{x:.3f}" if x else "n/a"
    rat = lambda x, y: f"{x / y:.3f}" if x and y else "n/a"
    print(f"| {' | '.join(map(str, k))} | " + " | ".join(map(f, v)) + f" | {rat(v[0], v[1])} | {rat(v[2], v[1])} |")
PY
cd $OUT && tar czf logs.tar.gz *.log 2>/dev/null && rm -f *.log; ls $OUT
