#!/usr/bin/env bash
# Thirteenth session: the decode kernels' L2 prefetch of the next GEMMs' weights (NOTES item 45), one build, A/B by
# MQA_DECODE_PREFETCH (unset: on; 0: off) on one machine: the CUDA decode tests, then per setting table2.sh's rows
# base and multi_query (greedy, beam 4, B 128, 3 repeats) and multi-query greedy at B {128, 1024} x T {128, 2048},
# in the order on, off, on (the second "on" as on2, a check of the spread). Carry .deps. ~200 s of run on an H100.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
echo "built at $(( $(date +%s) - T0 )) s"
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv,noheader
timeout 120 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*:*BenchCuda*:FastDivisor.*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"
grep -E "FAILED|Failure" -A3 $OUT/cuda_tests.log | head -30; grep -E "^\[  PASSED" $OUT/cuda_tests.log
common=(--set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128
        --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
ab() {  # name prefetch(0|1)
  local name=$1
  export MQA_DECODE_PREFETCH=$2
  for row in base multi_query; do
    timeout 40 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" "${common[@]}" --json $OUT/ab.jsonl > $OUT/rows_${row}_$name.log 2>&1 || echo "FAILED rows $row $name"
  done
  timeout 60 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  echo "$name done at $(( $(date +%s) - T0 )) s"
}
ab on 1
ab off 0
if [ $(( $(date +%s) - T0 )) -lt ${AB_REPEAT_BEFORE:-420} ]; then ab on2 1; fi
unset MQA_DECODE_PREFETCH
python3 - $OUT/ab.jsonl <<'PY' | tee $OUT/ab_table.txt
import json, sys
us = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "decode":
        row, _, ab = r["label"].partition("@")
        us[(row, r["mode"], r["batch"], r["target_len"], r["sweep"], ab)] = r["decoder_us_per_token"]
print("| row | mode | B | T | sweep | on | off | on2 | on / off |")
f = lambda x: f"{x:.3f}" if x else "n/a"
for k in sorted({k[:5] for k in us}):
    on, off, on2 = (us.get(k + (n,)) for n in ("on", "off", "on2"))
    print(f"| {' | '.join(map(str, k))} | {f(on)} | {f(off)} | {f(on2)} | {f(on / off) if on and off else 'n/a'} |")
PY
cd $OUT && tar czf logs.tar.gz *.log 2>/dev/null && rm -f *.log; ls $OUT
