#!/usr/bin/env bash
# Session 11 call 2 (one call instead of two: device time): scripts/table2.sh on the working tree (this session's
# kernels: decode attention with bulk copies + multiply-and-shift divisions, beam candidates in one pass), then the
# same machine rebuilt with HEAD's decode_attention.cu and step_kernels.cu (.carry/s11/*_head.cu) and the A/B points
# run again with the same commands (labels ROW@head), then (time permitting) the bulk-copies-only attention (@bulk).
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
touch src/mqa/kernels/*.cu src/mqa/decode/*.cpp
mkdir -p $OUT/t2
OUT=$OUT/t2 TABLE2_BUDGET=300 bash scripts/table2.sh > $OUT/table2_stdout.log 2>&1; echo "table2.sh rc $? at $(( $(date +%s) - T0 )) s"
tail -25 $OUT/table2_stdout.log
source scripts/mqa_build.sh
common=(--set bench.warmup=1 --set bench.repeats=3 --set bench.batch_size=128 --set bench.source_len=128
        --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
ab() {  # name
  local name=$1
  for row in base multi_query; do
    timeout 40 $MQA bench decode configs/wmt14/$row.yaml --label "$row@$name" "${common[@]}" --json $OUT/ab.jsonl > $OUT/rows_$name.log 2>&1 || echo "FAILED rows $row $name"
  done
  timeout 60 $MQA bench decode configs/wmt14/multi_query.yaml --label "multi_query@$name" --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/ab.jsonl > $OUT/sweep_$name.log 2>&1 || echo "FAILED sweep $name"
  echo "$name done at $(( $(date +%s) - T0 )) s"
}
swap() {  # attention step_kernels name
  cp $1 src/mqa/kernels/decode_attention.cu; cp $2 src/mqa/kernels/step_kernels.cu; touch src/mqa/kernels/*.cu
  cmake --build build-gpu --target mqa > $OUT/rebuild_$3.log 2>&1; echo "rebuild $3 rc $? at $(( $(date +%s) - T0 )) s"
}
if [ $(( $(date +%s) - T0 )) -lt 440 ]; then swap .carry/s11/decode_attention_head.cu .carry/s11/step_kernels_head.cu head; ab head; fi
if [ $(( $(date +%s) - T0 )) -lt 490 ]; then swap .carry/s11/decode_attention_bulk.cu .carry/s11/step_kernels_new.cu bulk; ab bulk; fi
python3 - $OUT/t2/table2_outputs.tar.gz $OUT/ab.jsonl <<'PY' | tee $OUT/ab_table.txt
import json, sys, tarfile
us = {}
with tarfile.open(sys.argv[1]) as t:
    for name in ("./table2.jsonl", "./sweep.jsonl"):
        try:
            for line in t.extractfile(name):
                r = json.loads(line)
                if r.get("kind") == "decode":
                    us[(r["label"], r["mode"], r["batch"], r["target_len"], "new")] = r["decoder_us_per_token"]
        except KeyError:
            pass
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r.get("kind") == "decode":
        row, _, ab = r["label"].partition("@")
        us[(row, r["mode"], r["batch"], r["target_len"], ab)] = r["decoder_us_per_token"]
keys = sorted({k[:4] for k in us if k[4] != "new"})
print("| row | mode | B | T | new | head | bulk | new / head |")
for k in keys:
    n, h, b = (us.get(k + (x,)) for x in ("new", "head", "bulk"))
    f = lambda v: f"{v:.3f}" if v else "n/a"
    print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {f(n)} | {f(h)} | {f(b)} | {f(n / h) if n and h else 'n/a'} |")
PY
cd $OUT && tar czf ab_logs.tar.gz *.log 2>/dev/null && rm -f *.log; ls -R $OUT | head
