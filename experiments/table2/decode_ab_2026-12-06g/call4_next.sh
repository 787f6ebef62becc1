#!/usr/bin/env bash
# Written in the eleventh session, not run (no device time left): one call that tests and times
# next_narrow_kernel.diff.txt (NOTES item 41) and reruns Table 2 with it, then rebuilds with HEAD's attention for the
# A/B on the same machine (call 2's pattern: ~420 s on an H100). From the project root with the diff applied to
# src/mqa/kernels/decode_attention.cu and HEAD's file copied to .carry/s12/decode_attention_head.cu; carry .deps,
# .carry/s12 and .carry/newstest (translate). If the narrow path loses, results.md is the run of a change not kept:
# say so, or rerun table2.sh without it.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
touch src/mqa/kernels/*.cu src/mqa/decode/*.cpp
mkdir -p $OUT/t2
# table2.sh builds, runs the CUDA decode tests first (the 8-query cases go through the narrow path), then times.
OUT=$OUT/t2 TABLE2_BUDGET=300 bash scripts/table2.sh > $OUT/table2_stdout.log 2>&1; echo "table2.sh rc $? at $(( $(date +%s) - T0 )) s"
tail -25 $OUT/table2_stdout.log
source scripts/mqa_build.sh
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
cp src/mqa/kernels/decode_attention.cu $OUT/decode_attention_narrow.cu
if [ $(( $(date +%s) - T0 )) -lt 480 ]; then
  cp .carry/s12/decode_attention_head.cu src/mqa/kernels/decode_attention.cu; touch src/mqa/kernels/decode_attention.cu
  cmake --build build-gpu --target mqa > $OUT/rebuild_head.log 2>&1; echo "rebuild head rc $? at $(( $(date +%s) - T0 )) s"
  ab head
fi
cp $OUT/decode_attention_narrow.cu src/mqa/kernels/decode_attention.cu && rm $OUT/decode_attention_narrow.cu
# narrow (table2.sh's rows and sweep) against head (the same commands), decoder us/token
python3 - $OUT/t2/table2_outputs.tar.gz $OUT/ab.jsonl <<'PY' | tee $OUT/ab_table.txt
import json, sys, tarfile
us = {}
with tarfile.open(sys.argv[1]) as t:
    for name in ("./table2.jsonl", "./sweep.jsonl"):
        for line in t.extractfile(name):
            r = json.loads(line)
            if r.get("kind") == "decode":
                us[(r["label"], r["mode"], r["batch"], r["target_len"], r["sweep"], "narrow")] = r["decoder_us_per_token"]
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r.get("kind") == "decode":
        row, _, ab = r["label"].partition("@")
        us[(row, r["mode"], r["batch"], r["target_len"], r["sweep"], ab)] = r["decoder_us_per_token"]
print("| row | mode | B | T | sweep | narrow | head | narrow / head |")
for k in sorted({k[:5] for k in us if k[5] == "head"}):
    n, h = us.get(k + ("narrow",)), us.get(k + ("head",))
    f = lambda x: f"{x:.3f}" if x else "n/a"
    print(f"| {' | '.join(map(str, k))} | {f(n)} | {f(h)} | {f(n / h) if n and h else 'n/a'} |")
PY
cd $OUT && tar czf ab_logs.tar.gz *.log 2>/dev/null && rm -f *.log; ls -R $OUT | head
