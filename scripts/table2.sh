#!/usr/bin/env bash
# Table 2 and the decoding sweep on the GPU machine, from the project root (see README "GPU build"):
#   bash scripts/table2.sh
# One call does, in this order (each step logged; a failing step does not stop the others):
#   1. build (scripts/mqa_build.sh), then the CUDA tests of the decode engine: kernels == LibTorch path, graph
#      replays == eager, bf16 engine == full forward (DecodeKernels.*, BenchCuda.*, CudaModel.*);
#   2. the paper's four rows (configs/wmt14/{base,multi_query,multi_head_local,multi_query_local}.yaml; TABLE2_ROWS
#      picks some, TABLE2_TRAIN=0 leaves training out): training, greedy and beam-4 decoding per output token at batch
#      TABLE2_BATCH (128), S = T = 128; then, for TABLE2_AB="NAME:VAR=0[,VAR=0] ...", the same decoding with those
#      environment switches set (an A/B of one build; ab.jsonl and a table in table2.log);
#   3. the greedy sweep over batch {1, 32, 128, 1024} x target length {128, 512, 2048} for multi-head and
#      multi-query, each point against its bytes/FLOPs floor;
#   4. the plain PyTorch baseline (scripts/baseline_decode.py, eager and CUDA graph) for multi-head and multi-query;
#   5. `mqa translate` of newstest2014 (3003 sentences) with beam 4 on a random-initialised paper-size model (a
#      throughput measurement: its outputs run to the length limit), and `mqa bench decode` at the same batches;
#      then again with decode.width_multiple 32 (fewer batch shapes). Needs the test sets at $NEWSTEST (default
#      .carry/newstest: copy ../shared/data/wmt-newstest there and carry it); skipped when absent;
#   6. scripts/table2_report.py -> results.md, scripts/plot_table2.py -> table2_sweep.png.
# Everything lands in $OUT/table2_outputs.tar.gz (results.md also beside it): table2.jsonl, sweep.jsonl,
# baseline.jsonl, build.log, cuda_tests.log, table2.log, results.md, table2_sweep.png, translate_vs_bench.json and
# translate_batches.json.
# TABLE2_BUDGET (seconds, default 540) skips what would start after it.
set -uo pipefail
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
start=$(date +%s)
MQA_BUILD_LOG=$out/build.log source scripts/mqa_build.sh
tail -1 "$out/build.log"
mqa=$MQA; export MQA
json=$out/table2.jsonl; sweep=$out/sweep.jsonl; baseline=$out/baseline.jsonl; log=$out/table2.log
rm -f "$json" "$sweep" "$baseline"
B=${TABLE2_BATCH:-128}; REPEATS=${TABLE2_REPEATS:-3}
common=(--set bench.warmup=1 --set bench.repeats="$REPEATS" --set bench.batch_size="$B" --set bench.source_len=128
        --set bench.target_len=128 --set bench.beam_size=4 --set bench.device=cuda)
budget=${TABLE2_BUDGET:-540}
failed=0
run() {  # run LIMIT_SECONDS COMMAND...: log everything, keep going on failure
  local limit=$1; shift
  local elapsed=$(( $(date +%s) - start ))
  if [ $elapsed -ge "$budget" ]; then echo "SKIPPED (time budget, ${elapsed} s): $*" | tee -a "$log"; return; fi
  [ "$limit" -gt $(( budget + 50 - elapsed )) ] && limit=$(( budget + 50 - elapsed ))
  echo "== [$(( $(date +%s) - start )) s] $*" >> "$log"
  timeout "$limit" "$@" >> "$log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then echo "FAILED (exit $rc): $*" | tee -a "$log"; tail -6 "$log" | grep -v "^FAILED"; failed=$((failed + 1)); fi
  grep -E "^  \| " "$log" | tail -1
}

# 1. Correctness first: a wrong kernel or graph would make every number below meaningless.
bin=$(dirname "$mqa")
timeout 240 "$bin/mqa_tests" --gtest_filter='DecodeKernels.*:*BenchCuda*:*CudaModel*' > "$out/cuda_tests.log" 2>&1 \
  && echo "CUDA decode tests passed" \
  || { echo "CUDA decode tests FAILED:"; grep -E "Failure|Expected|Which|FAILED|error|relative" -A2 "$out/cuda_tests.log" | head -40; failed=$((failed + 1)); }
grep -E "^\[ (self|cross|residual|greedy|search)" "$out/cuda_tests.log" | head -80

# 2. The paper's rows (TABLE2_ROWS: a subset; TABLE2_TRAIN=0: decoding only).
rows=${TABLE2_ROWS:-base multi_query multi_head_local multi_query_local}
for row in $rows; do
  run 100 "$mqa" bench decode configs/wmt14/$row.yaml --label $row "${common[@]}" --json "$json"
  [ "${TABLE2_TRAIN:-1}" = 1 ] && run 80 "$mqa" bench train configs/wmt14/$row.yaml --label $row "${common[@]}" --json "$json"
done

# 2b. A/B of the decode kernels' switches (README "Switching a fast path off"), same rows, same process settings:
# TABLE2_AB="NAME:VAR=0[,VAR=0] ...", e.g. "old:MQA_DECODE_SPLIT_MERGE=0,MQA_DECODE_NORM_BLOCK=0"; into ab.jsonl,
# labelled ROW@NAME, then decoder us/token of each beside the default's.
for ab in ${TABLE2_AB:-}; do
  sets=${ab#*:}
  for row in $rows; do
    run 100 env ${sets//,/ } "$mqa" bench decode configs/wmt14/$row.yaml --label "$row@${ab%%:*}" "${common[@]}" \
      --json "$out/ab.jsonl"
  done
done
[ -n "${TABLE2_AB:-}" ] && python3 - "$json" "$out/ab.jsonl" <<'PY' | tee -a "$log"
import json, sys
us = {}
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        if r.get("kind") == "decode":
            row, _, ab = r["label"].partition("@")
            us[(row, r["mode"], ab or "default")] = r["decoder_us_per_token"]
abs_ = sorted({k[2] for k in us} - {"default"})
print("| row | mode | default us/tok | " + " | ".join(f"{a} us/tok | {a} / default" for a in abs_) + " |")
print("|---|---|---:|" + "---:|---:|" * len(abs_))
for (row, mode, ab), v in sorted(us.items()):
    if ab != "default":
        continue
    cells = [f"{us[(row, mode, a)]:.3f} | {us[(row, mode, a)] / v:.3f}" if (row, mode, a) in us else "n/a | n/a"
             for a in abs_]
    print(f"| {row} | {mode} | {v:.3f} | " + " | ".join(cells) + " |")
PY

# 3. The sweep (one process per row; warm-up generation, one timed).
for row in base multi_query; do
  run 200 "$mqa" bench decode configs/wmt14/$row.yaml --label $row --modes greedy --batches 1,32,128,1024 \
    --lengths 128,512,2048 --set bench.warmup=1 --set bench.repeats=1 --set bench.check_graph=false \
    --set bench.source_len=128 --set bench.device=cuda --json "$sweep"
done

# 4. The plain PyTorch baseline (TABLE2_BASELINE=0 skips it).
[ "${TABLE2_BASELINE:-1}" = 1 ] && for row in base multi_query; do
  run 120 python3 scripts/baseline_decode.py --config configs/wmt14/$row.yaml --label $row --batch "$B" \
    --source-len 128 --target-len 128 --beam-size 4 --warmup 1 --repeats "$REPEATS" --json "$baseline"
done

# 5. translate on newstest2014, beam 4 (scripts/translate_throughput.sh).
if [ -f "${NEWSTEST:-.carry/newstest}/newstest2014.en" ]; then
  # Source widths in multiples of 8 (the default) and of 32 (fewer batch shapes; files ending in _w32).
  WIDTH_MULTIPLES="8 32" run 260 bash scripts/translate_throughput.sh
  grep -E "translate:|bench decode at translate" "$log" | tail -6
else
  echo "SKIPPED translate: no ${NEWSTEST:-.carry/newstest}/newstest2014.en" | tee -a "$log"
fi

# 6. Reports.
python3 scripts/table2_report.py --mqa "$json" "$sweep" --baseline "$baseline" --out "$out/results.md" --batch "$B" \
  2>&1 | tee -a "$log"
python3 scripts/plot_table2.py "$sweep" -o "$out/table2_sweep.png" 2>&1 | tail -1
echo "table2.sh: $(( $(date +%s) - start )) s, $failed failed step(s); results in $out/results.md"
# A device call returns at most 8 files: everything also goes into one archive, results.md stays beside it.
(cd "$out" && tar czf table2_outputs.tar.gz --exclude table2_outputs.tar.gz ./* \
  && find . -maxdepth 1 -type f ! -name table2_outputs.tar.gz ! -name results.md -delete)
[ $failed -eq 0 ]
