#!/usr/bin/env bash
# Prepares LM1B for mqa's language model: a SentencePiece vocabulary (32k by default) trained on the training text
# and binary shards of the sentence streams (train filtered by length), in OUTDIR (point data.dir at it).
#
#   scripts/prepare_lm1b.sh [options] RAWDIR OUTDIR         RAWDIR from scripts/download_lm1b.sh
#                                                           ({train,valid,test}.txt)
#   scripts/prepare_lm1b.sh [options] --sotu DIR OUTDIR      the stand-in where LM1B cannot be downloaded: State of
#                                                           the Union {train,valid,test}.en; vocabulary 8000 by default
# options: --vocab-size N   --model-type unigram|bpe   --max-len N (tokens)
set -euo pipefail

vocab= model_type=unigram max_len=256 sotu=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --vocab-size) vocab=$2; shift 2 ;;
    --model-type) model_type=$2; shift 2 ;;
    --max-len) max_len=$2; shift 2 ;;
    --sotu) sotu=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -eq 2 ]] || { echo "usage: $0 [options] [--sotu] RAWDIR OUTDIR (see --help)" >&2; exit 2; }
raw=$(realpath "$1")
out=$2

if [[ $sotu == 1 ]]; then
  vocab=${vocab:-8000}
  ext=en
else
  vocab=${vocab:-32000}
  ext=txt
fi
for s in train valid test; do
  [[ -f $raw/$s.$ext ]] || { echo "error: $raw/$s.$ext not found" >&2; exit 1; }
done

source "$(dirname "$0")/mqa_build.sh"
mkdir -p "$out"
out=$(realpath "$out")
cat > "$out/prepare.yaml" <<YAML
# written by scripts/prepare_lm1b.sh $(date -u +%Y-%m-%dT%H:%MZ)
model:
  type: lm
data:
  dir: $out
  vocab_size: $vocab
  spm_model_type: $model_type
  max_len: $max_len
  train_text: $raw/train.$ext
  valid_text: $raw/valid.$ext
  test_text: $raw/test.$ext
YAML
"$MQA" prepare "$out/prepare.yaml" --force
