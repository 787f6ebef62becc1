#!/usr/bin/env bash
# Session 7 call 1: pipelined attention kernel vs WMMA kernel.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
(which ncu nsys; ls /usr/local/cuda*/bin 2>/dev/null | grep -i -E "ncu|nsight" ; python3 -c "import nvidia, os; print(os.listdir(os.path.dirname(nvidia.__path__[0])))" ) > $OUT/tools.txt 2>&1
TABLE2_ROWS="base multi_query" TABLE2_TRAIN=0 TABLE2_BASELINE=0 TABLE2_AB="wmma:MQA_DECODE_PIPELINED=0" NEWSTEST=/nonexistent TABLE2_BUDGET=400 bash scripts/table2.sh > $OUT/table2_stdout.txt 2>&1
tail -30 $OUT/table2_stdout.txt
source scripts/mqa_build.sh
env MQA_DECODE_PIPELINED=0 timeout 100 $MQA bench decode configs/wmt14/multi_query.yaml --label multi_query@wmma --modes greedy --batches 128,1024 --lengths 128,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda --json $OUT/sweep_wmma.jsonl > $OUT/sweep_wmma.log 2>&1
grep -E "^  \|" $OUT/sweep_wmma.log | tail -8
grep -E "multi_query|base" $OUT/table2.log | grep -E "^\| *(128|1024) " | head; grep -E "x floor|\| (128|1024) \|" $OUT/results.md | head -20
