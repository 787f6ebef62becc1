#!/usr/bin/env bash
# ctest: beam 4 with decode.keep_greedy_path never scores a sentence below greedy on a trained model, end to end as
# a user runs it (mqa synth, mqa train, mqa translate --scores, scripts/beam_vs_greedy.sh), on a tiny multi-query
# model (1+1 layers, d_model 64) trained for 100 steps on a small built-in corpus (about a minute on 2 cores; the
# quickstart model of experiments/decode/beam_vs_greedy.md trains for 6). Beam must differ from greedy somewhere,
# or the comparison would prove nothing. That textbook beam search (the default) does fall below greedy, and so that
# this comparison can fail, DecodeSearch.KeepingTheGreedyPathNeverScoresBelowGreedyWhereTextbookBeamSearchDoes shows.
# Usage: beam_vs_greedy_tiny.sh MQA_EXECUTABLE
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export MQA=$(realpath "${1:?usage: beam_vs_greedy_tiny.sh MQA_EXECUTABLE}")
work=$(mktemp -d "${TMPDIR:-/tmp}/mqa_beam_tiny.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$MQA" synth -o raw --sentences 3000 --eval-sentences 100 > synth.log
cat > tiny.yaml <<YAML
model:
  type: seq2seq
  encoder_layers: 1
  decoder_layers: 1
  d_model: 64
  heads: 4
  kv_heads: 1
  d_k: 16
  d_v: 16
  d_ff: 128
  dropout: 0.1
  max_positions: 128
data:
  dir: $work/data
  train_source: $work/raw/train.src
  train_target: $work/raw/train.tgt
  valid_source: $work/raw/valid.src
  valid_target: $work/raw/valid.tgt
  test_source: $work/raw/test.src
  test_target: $work/raw/test.tgt
  vocab_size: 500
  max_len: 100
  batch_tokens: 1024
train:
  optimizer: adam
  lr: 0.005
  schedule: inverse_sqrt
  warmup_steps: 20
  max_steps: 100
  device: cpu
  threads: 1
  log_every: 40
  valid_every: 1000
  save_every: 1000
YAML
"$MQA" train tiny.yaml --run-dir run > train.log 2>&1 || { tail -40 train.log; exit 1; }
grep "valid ln_ppl" train.log
summary=$(bash "$root/scripts/beam_vs_greedy.sh" run/checkpoint_last.pt data/test.src.txt \
          -- --set decode.keep_greedy_path=true) || { echo "$summary"; exit 1; }
echo "$summary"
if [[ $(tail -1 <<< "$summary") =~ above\ 0\; ]]; then
  echo "error: beam 4 never differed from greedy on this model: the comparison proves nothing" >&2
  exit 1
fi
