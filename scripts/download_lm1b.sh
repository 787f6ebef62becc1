#!/usr/bin/env bash
# Downloads the One Billion Word benchmark (Chelba et al. 2013), the LM1B of Shazeer 2019's Table 3, and writes
# plain text, one sentence a line: OUTDIR/train.txt (the 99 training shards, ~30M sentences), OUTDIR/test.txt
# (heldout shard 00000, the customary test set) and OUTDIR/valid.txt (heldout shard 00001, so that dev and test
# differ). Needs internet, curl, tar, gzip.
#
#   scripts/download_lm1b.sh [OUTDIR]            (default data/lm1b-raw)
#   then: scripts/prepare_lm1b.sh OUTDIR data/lm1b
set -euo pipefail

out=${1:-data/lm1b-raw}
mkdir -p "$out"
cd "$out"

url=https://www.statmt.org/lm-benchmark/1-billion-word-language-modeling-benchmark-r13output.tar.gz
tarball=$(basename "$url")
if [[ ! -s $tarball ]]; then
  echo "downloading $url (about 1.7 GB)"
  curl -fL --retry 3 -o "$tarball.part" "$url"
  mv "$tarball.part" "$tarball"
fi
tar -xzf "$tarball"
root=1-billion-word-language-modeling-benchmark-r13output

cat "$root"/training-monolingual.tokenized.shuffled/news.en-000*-of-00100 > train.txt.tmp
mv train.txt.tmp train.txt
cp "$root"/heldout-monolingual.tokenized.shuffled/news.en.heldout-00001-of-00050 valid.txt
cp "$root"/heldout-monolingual.tokenized.shuffled/news.en.heldout-00000-of-00050 test.txt
for f in train valid test; do echo "$f: $(wc -l < $f.txt) sentences"; done
echo "done: $(pwd)/{train,valid,test}.txt"
