#!/usr/bin/env bash
# `mqa translate` throughput on newstest2014 (3003 sentences, beam 4) on the GPU machine, beside `mqa bench decode`
# at the same shape (issue 14: the two within 10%), from the project root:
#   NEWSTEST=DIR bash scripts/translate_throughput.sh [CONFIG]
# DIR holds newstest2010..2014 .en/.de (e.g. a copy of ../shared/data/wmt-newstest carried as .carry/newstest, the
# default). A SentencePiece vocabulary of 16000 is trained on newstest 2010-2012, the model of CONFIG (default
# configs/wmt14/base.yaml) is initialised at random and saved after one step: a throughput measurement, whose outputs
# run to the length limit. Then `mqa bench decode` times beam 4 at translate's mean batch (rows per search), mean
# source length and mean output length. Prints both and their ratio last; with OUT set, also writes
# $OUT/translate_vs_bench.json.
# Trying it without a GPU (~2 min on 2 cores):
#   DEVICE=cpu SENTENCES=40 MAX_LEN=100 bash scripts/translate_throughput.sh configs/quickstart.yaml
set -uo pipefail
config=${1:-configs/wmt14/base.yaml}
newstest=${NEWSTEST:-.carry/newstest}
device=${DEVICE:-cuda}
max_len=${MAX_LEN:-200}  # training filter only: must be below the config's model.max_positions
[ -f "$newstest/newstest2014.en" ] || { echo "translate_throughput.sh: no $newstest/newstest2014.en" >&2; exit 1; }
source scripts/mqa_build.sh
tdir=/tmp/mqa-translate; rm -rf "$tdir"; mkdir -p "$tdir"
cat "$newstest"/newstest201[0-2].en > "$tdir/train.en"; cat "$newstest"/newstest201[0-2].de > "$tdir/train.de"
input=$newstest/newstest2014.en
if [[ -n ${SENTENCES:-} ]]; then head -n "$SENTENCES" "$input" > "$tdir/input.en"; input=$tdir/input.en; fi
"$MQA" train "$config" --run-dir "$tdir/run" --set data.dir="$tdir/data" \
  --set data.train_source="$tdir/train.en" --set data.train_target="$tdir/train.de" \
  --set data.valid_source="$newstest/newstest2013.en" --set data.valid_target="$newstest/newstest2013.de" \
  --set data.test_source="$newstest/newstest2014.en" --set data.test_target="$newstest/newstest2014.de" \
  --set data.vocab_size=16000 --set data.max_len="$max_len" --set train.max_steps=1 --set train.save_every=1 \
  --set train.valid_every=1000 --set train.device="$device" > "$tdir/train.log" 2>&1 \
  || { tail -20 "$tdir/train.log"; exit 1; }
"$MQA" translate "$tdir/run/checkpoint_last.pt" --input "$input" --beam 4 --device "$device" \
  --output "$tdir/newstest2014.out" 2> "$tdir/translate.log" || { tail -20 "$tdir/translate.log"; exit 1; }
grep "translate:" "$tdir/translate.log" | tail -2

# translate's summary, read once into $tdir/translate.json: sentences translated, their mean source and output
# tokens, rows per search (mean), output tokens/s, and the model's vocabulary (the SentencePiece model's pieces).
python3 - "$tdir/translate.log" "$tdir/data/spm.vocab" "$tdir/translate.json" <<'PY' \
  || { echo "translate_throughput.sh: could not read translate's summary in $tdir/translate.log" >&2; exit 1; }
import json, re, sys
log = open(sys.argv[1]).read()
m = re.search(r"translate: (\d+) sentences \((\d+) skipped\), (\d+) source tokens, (\d+) output tokens in ([0-9.]+) s",
              log)
r = re.search(r"batches of ([0-9.]+) rows on average", log)
n = int(m[1]) - int(m[2])  # skipped lines (too long, bad UTF-8) count no tokens
json.dump({"sentences": n, "rows": max(1, round(float(r[1]))), "source_len": max(1, round(int(m[3]) / n)),
           "output_len": max(1, round(int(m[4]) / n)), "output_tokens_per_s": int(m[4]) / float(m[5]),
           "vocab": sum(1 for _ in open(sys.argv[2]))}, open(sys.argv[3], "w"))
PY
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$tdir/translate.json" "$1"; }
"$MQA" bench decode "$config" --device "$device" --modes beam --beam 4 --batches "$(field rows)" \
  --lengths "$(field output_len)" --set bench.source_len="$(field source_len)" --set data.vocab_size="$(field vocab)" \
  --label translate_shape --json "$tdir/bench.jsonl" > "$tdir/bench.log" 2>&1 || { tail -20 "$tdir/bench.log"; exit 1; }
python3 - "$tdir/translate.json" "$tdir/bench.jsonl" "${OUT:-}" <<'PY'
import json, sys
translate_path, bench_path, out = sys.argv[1:]
t = json.load(open(translate_path))
translate_tps = t["output_tokens_per_s"]
b = [json.loads(l) for l in open(bench_path)][-1]
us = b["encoder_us_per_token"] + b["decoder_us_per_token"]
bench_tps = 1e6 / us
result = {"sentences": t["sentences"], "translate_output_tokens_per_s": translate_tps,
          "bench_output_tokens_per_s": bench_tps,
          "bench_us_per_token": us, "batch": b["batch"], "beams": b["beams"], "source_len": b["source_len"],
          "target_len": b["target_len"], "vocab": b["model"]["vocab"], "device": b["device"],
          "translate_over_bench": translate_tps / bench_tps}
print(f"bench decode at translate's shape (batch {b['batch']}, beam {b['beams']}, source {b['source_len']}, "
      f"target {b['target_len']}): {bench_tps:.0f} output tokens/s; translate {translate_tps:.0f}: "
      f"{100 * translate_tps / bench_tps:.1f}% of bench (issue 14 asks 90-110%)")
if out:
    json.dump(result, open(out + "/translate_vs_bench.json", "w"), indent=1)
PY
