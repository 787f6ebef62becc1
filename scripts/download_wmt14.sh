#!/usr/bin/env bash
# Downloads WMT14 English-German as used by Vaswani et al. 2017 and Shazeer 2019: training = Europarl v7 +
# Common Crawl + News Commentary v9 (~4.5M pairs), dev = newstest2013, test = newstest2014 (the "full" test set).
# Writes plain, line-aligned text: OUTDIR/{train,dev,test}.{en,de}. Needs internet (statmt.org), curl, tar, gzip.
#
#   scripts/download_wmt14.sh [OUTDIR]          (default data/wmt14-raw)
#   then: scripts/prepare_wmt14.sh OUTDIR data/wmt14
set -euo pipefail

out=${1:-data/wmt14-raw}
mkdir -p "$out/archives"
cd "$out"

fetch() {  # fetch URL: download into archives/ unless already complete
  local url=$1 file="archives/$(basename "$1")"
  if [[ ! -s $file ]]; then
    echo "downloading $url"
    curl -fL --retry 3 -o "$file.part" "$url"
    mv "$file.part" "$file"
  fi
}

fetch https://www.statmt.org/wmt13/training-parallel-europarl-v7.tgz
fetch https://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz
fetch https://www.statmt.org/wmt14/training-parallel-nc-v9.tgz
fetch https://www.statmt.org/wmt14/dev.tgz
fetch https://www.statmt.org/wmt14/test-full.tgz

mkdir -p extract
for a in archives/*.tgz; do tar -xzf "$a" -C extract; done

# Training text: the three corpora, concatenated in a fixed order (the paths inside the archives).
find_one() { find extract -name "$1" | head -n 1; }
: > train.en.tmp
: > train.de.tmp
for base in europarl-v7.de-en commoncrawl.de-en news-commentary-v9.de-en; do
  en=$(find_one "$base.en"); de=$(find_one "$base.de")
  [[ -n $en && -n $de ]] || { echo "error: $base.{en,de} not found in the archives" >&2; exit 1; }
  n_en=$(wc -l < "$en"); n_de=$(wc -l < "$de")
  [[ $n_en == "$n_de" ]] || { echo "error: $en has $n_en lines but $de has $n_de" >&2; exit 1; }
  echo "$base: $n_en pairs"
  cat "$en" >> train.en.tmp
  cat "$de" >> train.de.tmp
done
mv train.en.tmp train.en
mv train.de.tmp train.de

# newstest2013 is plain text in dev.tgz; newstest2014 is SGML: keep the text inside <seg ...>...</seg>.
cp "$(find_one newstest2013.en)" dev.en
cp "$(find_one newstest2013.de)" dev.de
sgm_to_text() {
  sed -n 's/^.*<seg[^>]*>\(.*\)<\/seg>.*$/\1/p' "$1" |
    sed -e 's/&lt;/</g' -e 's/&gt;/>/g' -e "s/&apos;/'/g" -e 's/&quot;/"/g' -e 's/&amp;/\&/g' > "$2"
}
sgm_to_text "$(find_one 'newstest2014-deen-src.en.sgm')" test.en
sgm_to_text "$(find_one 'newstest2014-deen-ref.de.sgm')" test.de

for f in train dev test; do
  echo "$f: $(wc -l < $f.en) / $(wc -l < $f.de) lines (en / de)"
done
echo "done: $(pwd)/{train,dev,test}.{en,de}"
