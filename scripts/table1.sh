#!/usr/bin/env bash
# The paper's Table 1 (WMT14 EN-DE; Multi30k stands in here), scaled to one H100: the 8 rows of
# configs/wmt14/scaled/ plus a second seed of multi-head and multi-query (the seed spread that judges the
# orderings). Per run: `mqa train`, `mqa average` of the kept checkpoints, dev ln(PPL), test (test_2016_flickr)
# BLEU with beam 1 and beam 4; then `mqa report table1` into $OUT/results.md.
#
# On the GPU machine, from the project root, carrying .deps and .shared_data (one 600-second call, ~9 minutes:
# ~2 min build, ~10 s data, ~45-50 s a run):
#   bash scripts/table1.sh
# A second call (machine still warm) skips finished runs and resumes an interrupted one. On CPU, end to end in a
# few minutes with tiny settings: TABLE_SMOKE=1 bash scripts/table1.sh. See scripts/table_runs.sh for the budget,
# the environment (OUT, TABLE_RUNS, TABLE_BUDGET) and what lands in $OUT.
set -uo pipefail
TABLE=table1
CONFIG_DIR=configs/wmt14/scaled
ROWS="base multi_query multi_head_local multi_query_local heads1_dk64 heads2_dk32 heads4_dk16 heads8_dk8"
EVAL_RESERVE=25
EVAL_TEST_ARGS=
SMOKE_SETS="model.encoder_layers=1 model.decoder_layers=1 train.max_steps=8 train.save_every=4
  train.keep_checkpoints=2 train.log_every=4 train.valid_every=8 data.batch_tokens=1024 train.device=cpu"
[[ ${TABLE_SMOKE:-0} == 1 ]] && EVAL_TEST_ARGS="--bleu-sentences 40"
source "$(dirname "$0")/table_runs.sh"
table_setup "$@"
prepare_data scripts/prepare_wmt14.sh --multi30k multi30k data/multi30k
# TABLE_ROWS / TABLE_SEED2_ROWS pick a subset (e.g. a quick smoke of one row).
for row in ${TABLE_ROWS:-$ROWS}; do run_row "$row" 1; done
for row in ${TABLE_SEED2_ROWS-base multi_query}; do run_row "$row" 2; done
table_finish
