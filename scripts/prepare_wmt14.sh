#!/usr/bin/env bash
# Prepares WMT14 En-De for mqa: a shared SentencePiece vocabulary (32k by default, as in the paper) trained on
# the English + German training text, and binary shards of train (length- and ratio-filtered), dev and test,
# in OUTDIR (point data.dir at it).
#
#   scripts/prepare_wmt14.sh [options] RAWDIR OUTDIR        RAWDIR from scripts/download_wmt14.sh
#   scripts/prepare_wmt14.sh [options] --multi30k DIR OUTDIR the stand-in where WMT14 cannot be downloaded:
#                                                            Multi30k train.{en,de}, val as dev, test_2016_flickr
#                                                            as test; vocabulary 8000 by default
# options: --vocab-size N   --model-type unigram|bpe   --max-len N (tokens)   --max-len-ratio R
set -euo pipefail

vocab= model_type=unigram max_len=256 ratio=3.0 multi30k=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --vocab-size) vocab=$2; shift 2 ;;
    --model-type) model_type=$2; shift 2 ;;
    --max-len) max_len=$2; shift 2 ;;
    --max-len-ratio) ratio=$2; shift 2 ;;
    --multi30k) multi30k=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -eq 2 ]] || { echo "usage: $0 [options] [--multi30k] RAWDIR OUTDIR (see --help)" >&2; exit 2; }
raw=$(realpath "$1")
out=$2

if [[ $multi30k == 1 ]]; then
  vocab=${vocab:-8000}
  train=train dev=val test=test_2016_flickr
else
  vocab=${vocab:-32000}
  train=train dev=dev test=test
fi
for f in $train.en $train.de $dev.en $dev.de $test.en $test.de; do
  [[ -f $raw/$f ]] || { echo "error: $raw/$f not found" >&2; exit 1; }
done

source "$(dirname "$0")/mqa_build.sh"
mkdir -p "$out"
out=$(realpath "$out")
# The config that prepared OUTDIR stays beside it, for the record.
cat > "$out/prepare.yaml" <<YAML
# written by scripts/prepare_wmt14.sh $(date -u +%Y-%m-%dT%H:%MZ)
model:
  type: seq2seq
data:
  dir: $out
  vocab_size: $vocab
  spm_model_type: $model_type
  max_len: $max_len
  max_len_ratio: $ratio
  train_source: $raw/$train.en
  train_target: $raw/$train.de
  valid_source: $raw/$dev.en
  valid_target: $raw/$dev.de
  test_source: $raw/$test.en
  test_target: $raw/$test.de
YAML
"$MQA" prepare "$out/prepare.yaml" --force
