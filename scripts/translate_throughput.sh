#!/usr/bin/env bash
# `mqa translate` throughput on newstest2014 (3003 sentences, beam 4) on the GPU machine, from the project root:
#   NEWSTEST=DIR bash scripts/translate_throughput.sh [CONFIG]
# DIR holds newstest2010..2014 .en/.de (e.g. a copy of ../shared/data/wmt-newstest carried as .carry/newstest, the
# default). A SentencePiece vocabulary of 16000 is trained on newstest 2010-2012, the model of CONFIG (default
# configs/wmt14/base.yaml) is initialised at random and saved after one step: a throughput measurement, whose outputs
# run to the length limit. Prints translate's summary line (sentences/s, output tokens/s, batch shape) last.
set -uo pipefail
config=${1:-configs/wmt14/base.yaml}
newstest=${NEWSTEST:-.carry/newstest}
[ -f "$newstest/newstest2014.en" ] || { echo "translate_throughput.sh: no $newstest/newstest2014.en" >&2; exit 1; }
source scripts/mqa_build.sh
tdir=/tmp/mqa-translate; rm -rf "$tdir"; mkdir -p "$tdir"
cat "$newstest"/newstest201[0-2].en > "$tdir/train.en"; cat "$newstest"/newstest201[0-2].de > "$tdir/train.de"
"$MQA" train "$config" --run-dir "$tdir/run" --set data.dir="$tdir/data" \
  --set data.train_source="$tdir/train.en" --set data.train_target="$tdir/train.de" \
  --set data.valid_source="$newstest/newstest2013.en" --set data.valid_target="$newstest/newstest2013.de" \
  --set data.test_source="$newstest/newstest2014.en" --set data.test_target="$newstest/newstest2014.de" \
  --set data.vocab_size=16000 --set data.max_len=200 --set train.max_steps=1 --set train.save_every=1 \
  --set train.valid_every=1000 --set train.device=cuda > "$tdir/train.log" 2>&1 \
  || { tail -20 "$tdir/train.log"; exit 1; }
"$MQA" translate "$tdir/run/checkpoint_last.pt" --input "$newstest/newstest2014.en" --beam 4 --device cuda \
  --output "$tdir/newstest2014.out" 2> "$tdir/translate.log" || { tail -20 "$tdir/translate.log"; exit 1; }
grep "translate:" "$tdir/translate.log" | tail -2
