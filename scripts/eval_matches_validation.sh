#!/usr/bin/env bash
# Issue 15 on the GPU machine (carry .deps; see ../shared/gpu/README.md), from the project root:
#   bash scripts/eval_matches_validation.sh            # one GPU
#   RANKS=2 bash scripts/eval_matches_validation.sh    # also two ranks under torchrun (a machine with 2 GPUs)
# Trains the quickstart config on CUDA for 60 steps (bf16 autocast: train.precision auto), validating at the end
# with train.valid_bleu_sentences 100, then runs `mqa eval` on the checkpoint of that step (its default precision is
# the checkpoint's train.precision) and checks that its dev ln(PPL) and token count equal the metrics.jsonl line,
# and that its beam-1 BLEU of the first 100 dev sentences equals valid_bleu. With RANKS=2 the same for a run on two
# ranks (validation and BLEU sharded over them). Writes run directories, logs and summary.txt into $OUT; exits 1 on a
# mismatch. The corpus is the built-in one (generated here, ~10 s), so nothing needs to be carried but .deps.
set -euo pipefail
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out"
MQA_BUILD_LOG=$out/build.log source scripts/mqa_build.sh
summary=$out/summary.txt; : > "$summary"
steps=${STEPS:-60}  # DEVICE=cpu STEPS=10 tries the script on a machine without a GPU
sets=(--set train.device="${DEVICE:-cuda}" --set train.max_steps="$steps" --set train.valid_every="$steps"
      --set train.save_every="$steps"
      --set train.log_every=20 --set train.threads=0 --set train.valid_bleu_sentences=100
      --set data.dir="$out/data")
check() {  # check NAME RUN_DIR: eval of RUN_DIR/checkpoint_last.pt against its metrics.jsonl
  local name=$1 dir=$2
  "$MQA" eval "$dir/checkpoint_last.pt" --split valid --bleu-sentences 100 --set decode.beam_size=1 --quiet \
    > "$out/$name.eval.json"
  python3 - "$name" "$dir/metrics.jsonl" "$out/$name.eval.json" "$summary" <<'PY'
import json, sys
name, metrics, eval_path, summary = sys.argv[1:]
valid = [json.loads(l) for l in open(metrics) if '"split":"valid"' in l][-1]
ev = json.load(open(eval_path))
bleu = ev["decode"][0]["bleu"]
ok = ev["ln_ppl"] == valid["ln_ppl"] and ev["tokens"] == valid["tokens"] and bleu == valid["valid_bleu"]
line = (f"{name}: {'OK' if ok else 'MISMATCH'}: precision {ev['precision']}; ln_ppl eval {ev['ln_ppl']!r} "
        f"vs validation {valid['ln_ppl']!r}; tokens {ev['tokens']} vs {valid['tokens']}; "
        f"greedy BLEU eval {bleu!r} vs valid_bleu {valid['valid_bleu']!r}")
print(line); open(summary, "a").write(line + "\n")
sys.exit(0 if ok else 1)
PY
}
status=0
"$MQA" train configs/quickstart.yaml --run-dir "$out/one" "${sets[@]}" > "$out/one.train.log" 2>&1 \
  || { tail -30 "$out/one.train.log"; exit 1; }
grep "valid ln_ppl" "$out/one.train.log"
check one "$out/one" || status=1
if [[ ${RANKS:-1} -gt 1 ]]; then
  torchrun --no-python --standalone --nproc-per-node "$RANKS" "$MQA" train configs/quickstart.yaml \
    --run-dir "$out/ranks" "${sets[@]}" > "$out/ranks.train.log" 2>&1 || { tail -30 "$out/ranks.train.log"; exit 1; }
  grep "valid ln_ppl" "$out/ranks.train.log"
  check ranks "$out/ranks" || status=1
fi
exit $status
