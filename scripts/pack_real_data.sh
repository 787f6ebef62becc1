#!/usr/bin/env bash
# Packs what scripts/table1_real.sh and scripts/table3_real.sh need on the GPU machine into .carry/real/ (ignored by
# git), and prints the sizes against the device call's 64 MiB (working tree + carried paths).
#
#   bash scripts/pack_real_data.sh [--data-dir DIR] [--wiki-words N]
#
# 1. Builds the text corpora into data/real/text/wmt and data/real/text/wiki (scripts/build_wmt_real.sh,
#    scripts/build_wiki_lm.sh; skipped when their MANIFEST.txt exists). --wiki-words: training words of the wiki
#    subset (default 24000000: ~39 MiB of xz text, what fits beside the rest).
# 2. Prepares both here with the real configs' base.yaml (`mqa prepare`): this trains the SentencePiece vocabularies
#    once, on this machine, so that the GPU machine only encodes; the logs (prepare_cpu.log) hold the encoding
#    speed on this machine's cores.
# 3. Writes .carry/real/{wmt,wiki}/: every text file xz-compressed (-6; the GPU machine unpacks with xz or, without
#    it, Python's lzma), spm.model, MANIFEST.txt and prepare_cpu.log.
# 4. Prints every size and the total that travels; fails above 64 MiB.
# Then, on the GPU machine: run(carry=[".deps", ".carry"], command="bash scripts/table1_real.sh") (or table3_real.sh);
# .deps comes from `bash scripts/fetch_debs.sh` (README "GPU build").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data_dir= wiki_words=24000000
while [[ $# -gt 0 ]]; do
  case $1 in
    --data-dir) data_dir=$2; shift 2 ;;
    --wiki-words) wiki_words=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z $data_dir ]]; then
  for data_dir in ../shared/data ../../shared/data; do [[ -d $data_dir ]] && break; done
fi
[[ -d $data_dir ]] || { echo "error: data folder $data_dir not found (--data-dir)" >&2; exit 1; }
command -v xz > /dev/null || { echo "error: xz is needed (apt-get install xz-utils)" >&2; exit 1; }

text=data/real/text
[[ -f $text/wmt/MANIFEST.txt ]] || bash scripts/build_wmt_real.sh "$data_dir" "$text/wmt"
[[ -f $text/wiki/MANIFEST.txt ]] || bash scripts/build_wiki_lm.sh "$data_dir" "$text/wiki" "$wiki_words"

source scripts/mqa_build.sh
mkdir -p .carry/real/wmt .carry/real/wiki
# Keep .carry/ out of git (the repository's .gitignore lists it; a checkout without that line gets it here).
git check-ignore -q .carry/real || echo "/.carry/" >> "$(git rev-parse --git-path info/exclude)"

pack() {  # pack NAME CONFIG FILE...: prepare with CONFIG, then compress FILEs and copy the vocabulary
  local name=$1 config=$2; shift 2
  local prepared; prepared=$("$MQA" config show "$config" | awk '/^  dir:/ && !found {gsub(/"/, "", $2); print $2; found = 1}')
  if [[ ! -f $prepared/prepare.done ]]; then
    echo "== mqa prepare $config (vocabulary and shards in $prepared; the shards are not carried)"
    "$MQA" prepare "$config" 2>&1 | tee ".carry/real/$name/prepare_cpu.log"
  fi
  for f in "$@"; do
    local out=.carry/real/$name/$(basename "$f").xz
    if [[ ! -f $out || $f -nt $out ]]; then
      echo "== xz $f"
      xz -6 -T0 -c "$f" > "$out.tmp" && mv "$out.tmp" "$out"
    fi
  done
  cp "$prepared/spm.model" "$text/$name/MANIFEST.txt" ".carry/real/$name/"
}
pack wmt configs/wmt14/real/base.yaml "$text"/wmt/{train,valid,test}.{en,de}
pack wiki configs/lm1b/real/base.yaml "$text"/wiki/{train,valid,test}.txt "$text"/wiki/wikitext103.test.{tokens,detok.txt}

echo "== what travels"
du -b .carry/real/*/* | sort -k2
tree=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2> /dev/null | awk 'END {print $1}')
carry=$(du -sb .carry | cut -f1)
deps=0; [[ -d .deps ]] && deps=$(du -sb .deps | cut -f1)
total=$((tree + carry + deps))
printf '%-36s %10d bytes (%.1f MiB)\n' "working tree (tracked + untracked)" "$tree" "$(bc -l <<< "$tree / 1048576")" \
  ".carry" "$carry" "$(bc -l <<< "$carry / 1048576")" ".deps" "$deps" "$(bc -l <<< "$deps / 1048576")" \
  "total" "$total" "$(bc -l <<< "$total / 1048576")"
[[ -d .deps ]] || echo "note: no .deps yet (bash scripts/fetch_debs.sh, ~2 MB)"
if (( total > 64 * 1048576 )); then
  echo "error: more than the 64 MiB a device call carries: rebuild the wiki corpus with a smaller --wiki-words" >&2
  exit 1
fi
echo "ok: carry .deps and .carry (run(carry=[\".deps\", \".carry\"], ...))"
