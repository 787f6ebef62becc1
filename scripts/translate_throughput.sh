#!/usr/bin/env bash
# `mqa translate` throughput on newstest2014 (3003 sentences, beam 4) on the GPU machine, beside `mqa bench decode`
# at the same batches (issue 14: the two within 10%), from the project root:
#   NEWSTEST=DIR bash scripts/translate_throughput.sh [CONFIG]
# DIR holds newstest2010..2014 .en/.de (e.g. a copy of ../shared/data/wmt-newstest carried as .carry/newstest, the
# default). A SentencePiece vocabulary of 16000 is trained on newstest 2010-2012, the model of CONFIG (default
# configs/wmt14/base.yaml) is initialised at random and saved after one step: a throughput measurement, whose outputs
# run to the length limit. Then `mqa bench decode --shapes` times beam 4 at each shape translate's batches had (sources
# searched, source width, decoder steps run; `mqa translate --json` lists them), and the bench times of all batches are
# summed: the time bench says translate's work takes. Prints both throughputs and their ratio last; with OUT set, also
# writes $OUT/translate_vs_bench.json and translate's own --json as $OUT/translate_batches.json (with _wN before
# .json for a width multiple N other than 8).
# WIDTH_MULTIPLES (default 8; e.g. "8 32") are the decode.width_multiple values translate runs with, one after the
# other on the same model: larger gives fewer batch shapes (captures, first-use setup) for more padding.
# PREPARE_SHAPES (default "false true") are the decode.prepare_shapes values it runs with at each: true prepares every
# batch shape before the first batch (start-up, reported apart: translate's seconds then hold decoding only, as
# bench's timed repeats do; the ratio with the start-up included is printed too). _prepared before .json for true.
# Trying it without a GPU (~2 min on 2 cores):
#   DEVICE=cpu SENTENCES=40 MAX_LEN=100 bash scripts/translate_throughput.sh configs/quickstart.yaml
set -uo pipefail
config=${1:-configs/wmt14/base.yaml}
newstest=${NEWSTEST:-.carry/newstest}
device=${DEVICE:-cuda}
max_len=${MAX_LEN:-200}  # training filter only: must be below the config's model.max_positions
[ -f "$newstest/newstest2014.en" ] || { echo "translate_throughput.sh: no $newstest/newstest2014.en" >&2; exit 1; }
source scripts/mqa_build.sh
[[ -n ${OUT:-} ]] && mkdir -p "$OUT"
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
# Per width multiple: translate, bench at translate's shapes, and the comparison ($OUT files end in _wN but for 8).
for wm in ${WIDTH_MULTIPLES:-8}; do
for prepare in ${PREPARE_SHAPES:-false true}; do
  suffix=$([[ $wm == 8 ]] || echo "_w$wm")$([[ $prepare == true ]] && echo "_prepared")
  w=$tdir/w$wm$suffix; mkdir -p "$w"
  "$MQA" translate "$tdir/run/checkpoint_last.pt" --input "$input" --beam 4 --device "$device" \
    --set decode.width_multiple="$wm" --set decode.prepare_shapes="$prepare" \
    --output "$w/newstest2014.out" --json "$w/translate.json" \
    2> "$w/translate.log" || { tail -20 "$w/translate.log"; exit 1; }
  grep "translate:" "$w/translate.log" | tail -2

  # translate's batches (`--json`: sources searched, source width, steps run) as bench points, each shape once;
  # benched once per width multiple (prepare_shapes does not change the batches).
  bench=$tdir/bench_w$wm.jsonl
  if [[ ! -f $bench ]]; then
  shapes=$(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
print(",".join(sorted({"%d:%d:%d" % (b["rows"], b["width"], b["steps"]) for b in t["batches"]})))' \
    "$w/translate.json") \
    || { echo "translate_throughput.sh: could not read $w/translate.json" >&2; exit 1; }
  "$MQA" bench decode "$config" --device "$device" --modes beam --beam 4 --shapes "$shapes" \
    --set data.vocab_size="$(wc -l < "$tdir/data/spm.vocab")" --set bench.check_graph=false --label translate_shapes \
    --json "$bench" > "$w/bench.log" 2>&1 || { tail -20 "$w/bench.log"; rm -f "$bench"; exit 1; }
  fi
  # Bench's time for every batch translate ran (encoder + the same number of decoder steps at the same rows and
  # width), summed, against translate's wall time: the same output tokens over either time.
  python3 - "$w/translate.json" "$bench" "$wm" "${OUT:+$OUT/translate_vs_bench$suffix.json}" <<'PY' || exit 1
import json, sys
translate_path, bench_path, wm, out = sys.argv[1:]
t = json.load(open(translate_path))
bench = {}
for line in open(bench_path):
    b = json.loads(line)
    seconds = (b["encoder_ms"]["median"] + b["decoder_ms"]["median"]) / 1e3
    bench[(b["batch"], b["source_len"], b["target_len"])] = seconds
bench_s = sum(bench[(x["rows"], x["width"], x["steps"])] for x in t["batches"])
search_s = sum(x["encode_ms"] + x["decode_ms"] for x in t["batches"]) / 1e3
tokens = t["output_tokens"]
translate_tps, bench_tps = tokens / t["seconds"], tokens / bench_s
startup = t.get("startup_seconds", 0.0)
with_startup = tokens / (t["seconds"] + startup) / bench_tps
result = {"width_multiple": int(wm), "sentences": t["sentences"] - t["skipped"], "output_tokens": tokens,
          "batches": len(t["batches"]), "distinct_shapes": len(bench), "translate_seconds": t["seconds"],
          "translate_startup_seconds": startup, "translate_over_bench_with_startup": with_startup,
          "translate_search_seconds": search_s, "bench_seconds": bench_s,
          "translate_output_tokens_per_s": translate_tps, "bench_output_tokens_per_s": bench_tps,
          "translate_over_bench": translate_tps / bench_tps, "beam": t["beam"], "device": b["device"],
          "translate_memory_bytes": t.get("memory_bytes"), "translate_memory": t.get("memory")}
print(f"bench decode at translate's {len(t['batches'])} batches ({len(bench)} shapes, width multiple {wm}, beam "
      f"{t['beam']}): {bench_s:.2f} s, {bench_tps:.0f} output tokens/s; translate {t['seconds']:.2f} s "
      f"({search_s:.2f} s in its searches), {translate_tps:.0f} output tokens/s: "
      f"{100 * translate_tps / bench_tps:.1f}% of bench (issue 14 asks 90-110%); start-up {startup:.2f} s "
      f"(prepared shapes), {100 * with_startup:.1f}% of bench with it; translate's peak memory "
      f"{t.get('memory_bytes', 0) / 2**20:.0f} MiB ({t.get('memory', '?')})")
if out:
    json.dump(result, open(out, "w"), indent=1)
PY
  [[ -n ${OUT:-} ]] && cp "$w/translate.json" "$OUT/translate_batches$suffix.json"
done
done
exit 0
