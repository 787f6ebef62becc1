#!/usr/bin/env bash
# One device call for a real-data table (issue 17), most important first, inside CALL_BUDGET seconds (default 575):
#   bash scripts/gpu/table_call.sh table1|table3        (carrying .deps, .carry/real/wmt or wiki, and .prebuilt)
# 1. the GPU build and the CUDA tests of MQA_GPU_TESTS (scripts/gpu/check.sh's filter by default); TESTS=0 skips
#    the tests (the build then happens in step 2);
# 2. the table's next runs (scripts/table1_real.sh or scripts/table3_real.sh) in the time left, MIN_TRAIN as they
#    set it unless given -- not when a CUDA test failed: a run of the table must not train on kernels that
#    disagree with their reference (the call then returns the logs only).
# A device call returns at most 8 files from $OUT: this leaves results.md, the runs' tarball, the packed build and
# logs.tar.gz (every log of both steps), and prints the lines that matter.
set -uo pipefail
table=${1:-}
[[ $table == table1 || $table == table3 ]] || { sed -n '2,10p' "$0" >&2; exit 2; }
cd "$(dirname "$0")/../.."
start=$(date +%s)
export OUT=${OUT:-/tmp/mqa-out}
logs=$OUT/logs; mkdir -p "$logs"
rc=0
if [[ ${TESTS:-1} != 0 ]]; then
  OUT=$logs bash scripts/gpu/check.sh > "$logs/check.out" 2>&1 || rc=1
  echo "table_call: build and CUDA tests in $(( $(date +%s) - start )) s (rc $rc):"
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED  \]" "$logs/tests.log" | head -20
fi
budget=$(( ${CALL_BUDGET:-575} - ($(date +%s) - start) ))
if [[ $rc != 0 ]]; then
  echo "table_call: CUDA tests failed: no $table runs this call (logs.tar.gz: logs/check.out, logs/tests.log)"
else
  echo "table_call: $table budget $budget s"
  TABLE_BUDGET=$budget bash "scripts/${table}_real.sh" > "$logs/${table}_real.out" 2>&1 || rc=1
  grep -E "trained|SKIPPED|FAILED|runs finished" "$logs/${table}_real.out" | grep -v "committed in" | head -12
fi
mv "$OUT/${table}_real.log" "$OUT/build.log" "$logs/" 2> /dev/null
tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$logs"
echo "table_call: $(( $(date +%s) - start )) s; back: $(cd "$OUT" && ls | tr '\n' ' ')"
exit $rc
