#!/usr/bin/env bash
# Table 1 on real data (issue 17): the English->German corpus, as plain text for `mqa prepare`
# (configs/wmt14/real/base.yaml reads OUT_DIR/{train,valid,test}.{en,de}).
#
#   bash scripts/build_wmt_real.sh DATA_DIR OUT_DIR      # DATA_DIR: the shared data folder (../shared/data)
#
# train: Tatoeba (169,813 pairs; sorted by length in its file, so shuffled with the seed first), Multi30k train
#        (29,000) and every WMT news test set of DATA_DIR/wmt-newstest except the paper's dev and test sets:
#        news-test2008, newssyscomb2009 (WMT09's system-combination set: 2009 news, nothing shared with 2013/14),
#        newstest2009-2012 and newstest2015-2020. Pairs with an empty side are dropped, and so is every pair with
#        a side (whitespace-normalised) equal to a dev or test sentence, and any repeat of an earlier pair; the
#        result is shuffled with the seed (226,314 pairs, 2.0M English words at seed 1).
# valid: newstest2013 (3000 pairs, the paper's dev set); test: newstest2014 (all 3003, the paper's test set).
# OUT_DIR/MANIFEST.txt lists what was read, dropped and kept, and the SHA-256 of every file. Takes ~20 s.
set -euo pipefail
if [[ $# != 2 ]]; then sed -n '2,14p' "$0" >&2; exit 2; fi
data=$1 out=$2
for f in tatoeba/tatoeba.en multi30k/train.en wmt-newstest/newstest2013.en wmt-newstest/newstest2014.de; do
  [[ -f $data/$f ]] || { echo "error: $data/$f not found (DATA_DIR must be the shared data folder)" >&2; exit 1; }
done
python3 "$(dirname "$0")/real_corpora.py" wmt "$data" "$out" --seed "${SEED:-1}"
