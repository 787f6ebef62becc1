#!/usr/bin/env bash
# Table 3 on real data (issue 17): the English Wikipedia language-model corpus, as plain text for `mqa prepare`
# (configs/lm1b/real/base.yaml reads OUT_DIR/{train,valid,test}.txt), and WikiText-103 test for a second score.
#
#   bash scripts/build_wiki_lm.sh DATA_DIR OUT_DIR [TRAIN_WORDS]   # DATA_DIR: the shared data folder
#
# The 261,409 articles of DATA_DIR/wiki (a 2014 slice, WikiExtractor output) less the 5 that are also WikiText-103
# valid/test articles (wiki/SOURCES.txt), shuffled by article with the seed; valid and test are the first whole
# articles of that order up to 250k words each (held out as articles, not as lines), train the next ones up to
# TRAIN_WORDS words (default 24M: with the translation corpus and the build's dependencies this fits the device
# call's 64 MiB, xz-compressed; 0 = every article). One line a paragraph (or title / section heading); the empty
# layout lines of WikiExtractor are dropped.
#
# Per-word perplexity (eval/perplexity.h) divides the total NLL of a split by its whitespace words plus one per
# line: every line ends with the eos the model predicts, as every LM1B sentence ends with </S> in the paper's
# benchmark and every WikiText line with <eos> (WikiText-103 test: 241,211 words + 4,358 lines = 245,569, its usual
# token count).
# WikiText-103 test is written twice: wikitext103.test.tokens (as published: tokenized, <unk> for rare words) and
# wikitext103.test.detok.txt (the same lines detokenized by the rules of GPT-2's / Megatron-LM's zero-shot
# WikiText evaluations), which the model reads; its per-word perplexity divides by the words + lines of the
# original (`mqa eval --text wikitext103.test.detok.txt --word-count-from wikitext103.test.tokens`), the convention
# of those evaluations. OUT_DIR/MANIFEST.txt gives articles, lines and words of every file. Takes ~2 minutes.
set -euo pipefail
if [[ $# != 2 && $# != 3 ]]; then sed -n '2,25p' "$0" >&2; exit 2; fi
data=$1 out=$2 train_words=${3:-24000000}
for f in wiki/enwiki-2014-AA.txt.zst wikitext/wikitext-103/wiki.test.tokens; do
  [[ -f $data/$f ]] || { echo "error: $data/$f not found (DATA_DIR must be the shared data folder)" >&2; exit 1; }
done
command -v zstd > /dev/null || { echo "error: zstd is needed to read $data/wiki/*.zst" >&2; exit 1; }
python3 "$(dirname "$0")/real_corpora.py" wiki "$data" "$out" --seed "${SEED:-1}" --train-words "$train_words"
