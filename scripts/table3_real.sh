#!/usr/bin/env bash
# The paper's Table 3 on real data (issue 17): the 6 rows of configs/lm1b/real/ (a decoder-only language model on
# English Wikipedia split by article), 3 seeds each, resumable over many device calls. Per run: `mqa train`,
# `mqa average` of the last 4 checkpoints, dev ln(PPL) and per-word perplexity, test per-word perplexity, and
# per-word perplexity of WikiText-103 test (detokenized text, divided by the words + lines of the original;
# scripts/build_wiki_lm.sh); then `mqa report table3` over this call's and the committed runs into $OUT/results.md.
#
# Here, once: bash scripts/pack_real_data.sh and bash scripts/fetch_debs.sh. On the GPU machine, from the
# project root, carrying .deps and .carry:
#   bash scripts/table3_real.sh
# Each call builds mqa (~2 min on a fresh machine), unpacks and encodes the corpus (13 s on 16 cores), then trains
# the next runs of RUN_ORDER that are neither committed under experiments/table3/real/runs/ nor finished in runs/table3_real,
# while they fit TABLE_BUDGET (default 575 s; see scripts/table1_real.sh for the rest, the same here). A run starts
# only with 180 s of training left (MIN_TRAIN): the rows' fixed 5000 steps take 164-172 s on an H100 with the bf16
# residual stream and the fused loss kernels (29-30 steps/s, measured 2026-12-06; experiments/table3/real/README.md).
#   bash scripts/unpack_table_runs.sh FILES_AT/table3_real_runs.tar.gz
# CPU check of the whole pipeline: TABLE_SMOKE=1 bash scripts/table3_real.sh. TABLE_ORDER="base:1" runs a subset.
set -uo pipefail
source "$(dirname "$0")/table_runs.sh"
MIN_TRAIN=${MIN_TRAIN:-180}
# The table's first runs trained with LibTorch's layer norm backward and a separate ReLU kernel (before
# kernels/layer_norm_grad.cu and util/linear_relu.h) and a GEMM per attention projection: all 18 keep them, so
# that every row shares one training step (the fused loss kernels and the bf16 stream they all have).
export MQA_LAYER_NORM_KERNELS=0 MQA_RELU_EPILOGUE=0 MQA_FUSED_PROJECTIONS=0
real_table table3 configs/lm1b/real
EVAL_RESERVE=35
EVAL_TEST_ARGS=
wikitext=data/real/text/wiki
EXTRA_EVAL_NAME=wikitext103
EXTRA_EVAL_ARGS="--text $wikitext/wikitext103.test.detok.txt --word-count-from $wikitext/wikitext103.test.tokens"
SMOKE_SETS="model.decoder_layers=1 train.max_steps=8 train.save_every=4 train.warmup_steps=4 train.keep_checkpoints=2
  train.log_every=4 train.valid_every=8 data.batch_tokens=1024 train.device=cpu"
if [[ ${TABLE_SMOKE:-0} == 1 ]]; then
  EXTRA_EVAL_ARGS="--text $wikitext-smoke/wikitext103.test.detok.txt --word-count-from $wikitext-smoke/wikitext103.test.tokens"
fi
# The fixed order of the runs (row:seed): multi-head and multi-query with all seeds first, then the reduced rows.
RUN_ORDER="base:1 multi_query:1 base:2 multi_query:2 base:3 multi_query:3
  heads1_dk64:1 heads2_dk32:1 heads4_dk16:1 heads8_dk8:1 heads1_dk64:2 heads2_dk32:2 heads4_dk16:2 heads8_dk8:2
  heads1_dk64:3 heads2_dk32:3 heads4_dk16:3 heads8_dk8:3"
table_setup "$@"
prepare_carried wiki "$CONFIG_DIR/base.yaml"
for run in ${TABLE_ORDER:-$RUN_ORDER}; do run_row "${run%%:*}" "${run##*:}"; done
table_finish
