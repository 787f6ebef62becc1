#!/usr/bin/env bash
# The paper's Table 1 on real data (issue 17): the 8 rows of configs/wmt14/real/ (English -> German on Tatoeba +
# Multi30k + WMT news, dev newstest2013, test newstest2014), 3 seeds each, resumable over many device calls.
# Per run: `mqa train`, `mqa average` of the last 4 checkpoints, dev ln(PPL) and dev BLEU (greedy), test BLEU beam 1
# and beam 4 (length penalty 0.6, textbook beam search: decode.keep_greedy_path false in the configs), sacreBLEU
# tokenize intl as the paper; then `mqa report table1` over this call's and the committed runs into $OUT/results.md.
#
# Here, once: bash scripts/pack_real_data.sh (corpora, vocabularies, .carry/; prints what travels) and
# bash scripts/fetch_debs.sh (.deps). On the GPU machine, from the project root, carrying .deps and .carry:
#   bash scripts/table1_real.sh
# Each call builds mqa (~2 min on a fresh machine; none with a matching .prebuilt/ carried, see below), unpacks
# and encodes the corpus (~2 s), then trains the next runs of RUN_ORDER that are neither committed under
# experiments/table1/real/runs/ nor finished in runs/table1_real (a warm machine keeps it), while they fit
# TABLE_BUDGET (default 575 s: a run starts only with MIN_TRAIN (285 s) + EVAL_RESERVE (30 s) left, so two runs a
# call with a prebuilt build; a run cut by the budget resumes on the next call if the machine is still warm).
# $OUT gets build.log, table1_real.log, results.md and table1_real_runs.tar.gz (every run's config.yaml,
# metrics.jsonl, train.log, eval*.json, result.json, train_seconds; no checkpoints), and after a build
# mqa_gpu_build.tar.gz; back here:
#   bash scripts/unpack_table_runs.sh FILES_AT/table1_real_runs.tar.gz
#   mkdir -p .prebuilt && tar xzf FILES_AT/mqa_gpu_build.tar.gz -C .prebuilt   # then carry .prebuilt too
# puts the finished runs under experiments/table1/real/runs/ and rewrites experiments/table1/real/results.md.
# CPU check of the whole pipeline, in minutes: TABLE_SMOKE=1 bash scripts/table1_real.sh (widths / 8, 1+1 layers,
# 8 steps, a 20k-pair slice; needs .carry too). TABLE_ORDER="base:1 multi_query:1" runs a subset.
set -uo pipefail
source "$(dirname "$0")/table_runs.sh"
real_table table1 configs/wmt14/real
EVAL_RESERVE=30
EVAL_VALID_ARGS="--set decode.beam_size=1 --bleu-tokenize intl"
EVAL_TEST_ARGS="--bleu-tokenize intl"
SMOKE_SETS="model.encoder_layers=1 model.decoder_layers=1 train.max_steps=8 train.save_every=4 train.warmup_steps=4
  train.keep_checkpoints=2 train.log_every=4 train.valid_every=8 data.batch_tokens=1024 train.device=cpu"
if [[ ${TABLE_SMOKE:-0} == 1 ]]; then
  EVAL_VALID_ARGS="$EVAL_VALID_ARGS --bleu-sentences 40"
  EVAL_TEST_ARGS="$EVAL_TEST_ARGS --bleu-sentences 40"
fi
# The fixed order of the runs (row:seed): multi-head and multi-query with all seeds first (the paper's main
# comparison), then the reduced-head rows (its clearest effect), then the local rows.
RUN_ORDER="base:1 multi_query:1 base:2 multi_query:2 base:3 multi_query:3
  heads1_dk64:1 heads2_dk32:1 heads4_dk16:1 heads8_dk8:1 heads1_dk64:2 heads2_dk32:2 heads4_dk16:2 heads8_dk8:2
  heads1_dk64:3 heads2_dk32:3 heads4_dk16:3 heads8_dk8:3
  multi_head_local:1 multi_query_local:1 multi_head_local:2 multi_query_local:2 multi_head_local:3 multi_query_local:3"
table_setup "$@"
prepare_carried wmt "$CONFIG_DIR/base.yaml"
for run in ${TABLE_ORDER:-$RUN_ORDER}; do run_row "${run%%:*}" "${run##*:}"; done
table_finish
