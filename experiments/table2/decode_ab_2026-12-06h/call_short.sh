#!/usr/bin/env bash
# Twelfth session, the short form of ../decode_ab_2026-12-06g/call4_next.sh for a smaller device budget: the narrow
# tensor-core path (NOTES item 41; the working tree's decode_attention.cu) against HEAD's attention
# (.carry/s12/decode_attention_head.cu) on one machine, without table2.sh: the CUDA decode tests on narrow, then per
# build table2.sh's rows base and multi_query (greedy, beam 4, B 128, 3 repeats) and multi-query greedy at
# B {128, 1024} x T {128, 2048}. Carry .deps and .carry/s12. ~150 s of run on an H100.
# AB_NAME names the working tree's build in the table (default narrow; the review's FastDivisor::mod call ran as
# AB_NAME=mod, against the same HEAD file).
set -uo pipefail
export OUT=${OUT:-/tmp/out}
NAME=${AB_NAME:-narrow}
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
ab $NAME
cp src/mqa/kernels/decode_attention.cu $OUT/decode_attention_$NAME.cu
if [ $(( $(date +%s) - T0 )) -lt 450 ]; then
  cp .carry/s12/decode_attention_head.cu src/mqa/kernels/decode_attention.cu; touch src/mqa/kernels/decode_attention.cu
  cmake --build build-gpu --target mqa > $OUT/rebuild_head.log 2>&1; echo "rebuild head rc $? at $(( $(date +%s) - T0 )) s"
  ab head
fi
cp $OUT/decode_attention_$NAME.cu src/mqa/kernels/decode_attention.cu && rm $OUT/decode_attention_$NAME.cu
python3 - $OUT/ab.jsonl $NAME <<'PY' | tee $OUT/ab_table.txt
import json, sys
us = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "decode":
        row, _, ab = r["label"].partition("@")
        us[(row, r["mode"], r["batch"], r["target_len"], r["sweep"], ab)] = r["decoder_us_per_token"]
name = sys.argv[2]
print(f"| row | mode | B | T | sweep | {name} | head | {name} / head |")
for k in sorted({k[:5] for k in us}):
    n, h = us.get(k + (name,)), us.get(k + ("head",))
    f = lambda x: f"{x:.3f}" if x else "n/a"
    print(f"| {' | '.join(map(str, k))} | {f(n)} | {f(h)} | {f(n / h) if n and h else 'n/a'} |")
PY
cd $OUT && tar czf logs.tar.gz *.log 2>/dev/null && rm -f *.log; ls $OUT
