#!/usr/bin/env bash
# On the GPU machine (carry .deps with the .debs of scripts/fetch_debs.sh; README "GPU build"), from the project root:
#   bash scripts/gpu/tools_check.sh
# Checks issue 18's tools on the CUDA build: builds through scripts/mqa_build.sh (scripts/setup.sh --libtorch python
# --debs .deps/debs), runs their tests (TrainCli, CliConvention, generate, streaming), then on CUDA: trains the
# quickstart language model briefly, copies its checkpoint alone elsewhere and runs `mqa generate` (greedy and
# sampled, fp32 and bf16 autocast) and `mqa eval` (fp32 and bf16) from another directory. Logs and results in $OUT
# (default /tmp/mqa-out): build.log, tests.log, tools.log. Expected 3-6 minutes (build ~2-5, the rest ~1).
set -uo pipefail
root=$(pwd)
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
start=$(date +%s)
MQA_BUILD_LOG=$out/build.log source scripts/mqa_build.sh
tail -2 "$out/build.log"
echo "build ready after $(( $(date +%s) - start )) s"
failed=0
"$(dirname "$MQA")/mqa_tests" \
  --gtest_filter='TrainCli.*:CliConvention.*:DecodeEval.Generate*:DecodeSearch.LanguageModelStreaming*:TrainCheckpoint.*' \
  > "$out/tests.log" 2>&1 || failed=1
grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED  \]" "$out/tests.log" | head -20

log=$out/tools.log; : > "$log"
work=$(mktemp -d /tmp/mqa-tools.XXXXXX)
step() { echo "== $*" >> "$log"; "$@" >> "$log" 2>&1 || { echo "FAILED: $*" | tee -a "$log"; failed=1; }; }
cd "$work"
step "$MQA" train "$root/configs/quickstart_lm.yaml" --device cuda --set train.max_steps=200 --run-dir runs/lm
mkdir -p elsewhere third && cp runs/lm/checkpoint_last.pt elsewhere/lm.pt
cd third
for precision in fp32 bf16; do
  step "$MQA" generate ../elsewhere/lm.pt --prompt "the" --temperature 0 --max-tokens 40 --device cuda --precision $precision
  step "$MQA" generate ../elsewhere/lm.pt --prompt "the" --temperature 0.8 --top-p 0.9 --seed 3 --max-tokens 40 --device cuda --precision $precision
  step "$MQA" eval ../elsewhere/lm.pt --split test --device cuda --precision $precision -q --json eval_$precision.json
done
cd "$root"; rm -rf "$work"
grep -E "^(==|generate:|FAILED)|ln_ppl" "$log" | head -40
echo "tools_check: $(( $(date +%s) - start )) s, $([[ $failed == 0 ]] && echo all passed || echo FAILURES: see $out/tests.log and $log)"
exit $failed
