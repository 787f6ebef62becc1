#!/usr/bin/env bash
# Beam search against greedy search, sentence by sentence, on a trained seq2seq checkpoint: both translate the same
# sources with `mqa translate --scores`, and every sentence's beam score (model log-probability with the GNMT length
# penalty, the score beam search ranks by) is compared with greedy's. Exits 1 if beam scores below greedy on any
# sentence (beyond 1e-4, the printed scores' rounding), else 0.
#
#   bash scripts/beam_vs_greedy.sh CKPT [SOURCES] [-- mqa translate options...]
#   bash scripts/beam_vs_greedy.sh runs/quickstart/checkpoint_last.pt data/quickstart/test.src.txt
#   bash scripts/beam_vs_greedy.sh CKPT SRC -- --set decode.keep_greedy_path=true   # beam keeps the greedy path
# (without it: textbook beam search, the default, which may score below greedy)
#
# SOURCES defaults to data/quickstart/test.src.txt (the quickstart's test set). BEAM (default 4) sets the beam width.
# Keeps greedy.txt and beam.txt (`i ||| text ||| score`) in $OUT_DIR when it is set (else in a removed temp dir).
set -euo pipefail
source "$(dirname "$0")/mqa_build.sh"
ckpt=${1:?usage: beam_vs_greedy.sh CKPT [SOURCES] [-- mqa translate options...]}
shift
src=data/quickstart/test.src.txt
if [[ $# -gt 0 && $1 != -- ]]; then src=$1; shift; fi
[[ ${1:-} == -- ]] && shift
[[ -f $ckpt ]] || { echo "error: $ckpt: no such checkpoint" >&2; exit 2; }
[[ -f $src ]] || { echo "error: $src: no such source file" >&2; exit 2; }
beam=${BEAM:-4}
if [[ -n ${OUT_DIR:-} ]]; then
  dir=$OUT_DIR; mkdir -p "$dir"
else
  dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
fi

"$MQA" translate "$ckpt" --input "$src" --beam 1 --scores --quiet "$@" > "$dir/greedy.txt"
start=$(date +%s.%N)
"$MQA" translate "$ckpt" --input "$src" --beam "$beam" --scores --quiet "$@" > "$dir/beam.txt"
seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# Both files: one `i ||| text ||| score` line per translated sentence, in input order (skipped lines have none).
awk -F ' [|][|][|] ' -v beam="$beam" -v seconds="$seconds" '
  NR == FNR { greedy[$1] = $3; gtext[$1] = $2; next }
  {
    if (!($1 in greedy)) { printf "error: sentence %s has a beam output but no greedy output\n", $1; bad = 1; next }
    n++
    d = $3 - greedy[$1]
    if (d < -1e-4) {
      below++
      if (below <= 5) printf "below greedy: sentence %s: beam %.6f \"%s\" < greedy %.6f \"%s\"\n", $1, $3, $2, greedy[$1], gtext[$1]
      if (d < worst) worst = d
    } else if (d > 1e-4) above++
    sum += d
  }
  END {
    if (n == 0) { print "error: no sentences compared"; exit 1 }
    printf "beam %d vs greedy on %d sentences: below %d, equal %d, above %d; mean score gain %.4f; worst %.4f; beam decoding %s s\n",
           beam, n, below + 0, n - below - above, above + 0, sum / n, worst + 0, seconds
    exit (below > 0 || bad) ? 1 : 0
  }' "$dir/greedy.txt" "$dir/beam.txt"
