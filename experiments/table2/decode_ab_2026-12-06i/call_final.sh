#!/usr/bin/env bash
# Thirteenth session, last call: the fused beam update with the greedy row (NOTES item 48) on the final tree: the CUDA
# decode tests; beam 4 at B 128 (base, multi_query; 3 repeats) with the update fused (on, and again as on2) and as
# tensor ops (MQA_DECODE_BEAM_UPDATE=0); kernel profiles of multi-query beam 4 at B 128 and greedy at B 1024, T 512
# (scripts/decode_profile.sh). Carry .deps. ~200 s of run on an H100.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
bin=$(dirname $MQA)
echo "built at $(( $(date +%s) - T0 )) s"
timeout 200 $bin/mqa_tests --gtest_filter='DecodeKernels.*:*CudaModel*:*BenchCuda*:FastDivisor.*' > $OUT/cuda_tests.log 2>&1; echo "tests rc $? at $(( $(date +%s) - T0 )) s"
grep -E "fused beam|FAILED|Failure|^\[  PASSED" $OUT/cuda_tests.log | tail -16
common=(--modes beam --set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128
        --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
for setting in on:1 off:0 on2:1; do
  name=${setting%%:*}; export MQA_DECODE_BEAM_UPDATE=${setting##*:}
  for row in base multi_query; do
    timeout 40 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" "${common[@]}" --json $OUT/ab.jsonl > $OUT/beam_${row}_$name.log 2>&1 || echo "FAILED $row $name"
  done
done
unset MQA_DECODE_BEAM_UPDATE
python3 - $OUT/ab.jsonl <<'PY' | tee $OUT/ab_table.txt
import json, sys
us = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "decode":
        row, _, ab = r["label"].partition("@")
        us[(row, r["mode"], ab)] = r["decoder_us_per_token"]
print("| row | mode | fused | tensor ops | fused again |")
for row in ("base", "multi_query"):
    print(f"| {row} | beam | " + " | ".join(f"{us.get((row, 'beam', n), float('nan')):.3f}" for n in ("on", "off", "on2")) + " |")
PY
echo "A/B done at $(( $(date +%s) - T0 )) s"
DECODE_PROFILES="multi_query:beam:128 multi_query:greedy:1024:512" timeout 240 bash scripts/decode_profile.sh 2>&1 | tail -16
rm -f $OUT/profile_*.json
cd $OUT && tar czf logs.tar.gz *.log 2>/dev/null && rm -f *.log; ls $OUT; echo "done at $(( $(date +%s) - T0 )) s"
