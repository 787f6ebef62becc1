#!/usr/bin/env bash
# Puts the runs of a table*_real.sh device call into experiments/ and rewrites that table's results.md.
#
#   bash scripts/unpack_table_runs.sh TAR [--force]
#
# TAR is $OUT/table1_real_runs.tar.gz or $OUT/table3_real_runs.tar.gz as it came back (the run's files_at). Every
# run directory in it with a result.json (a finished run) goes to experiments/table1/real/runs/NAME (table3
# likewise) with its config.yaml, metrics.jsonl, train.log, eval.log, eval_*.json, result.json and train_seconds;
# unfinished runs are listed and left out. A run already committed there is kept unless --force. Then
# experiments/<table>/real/results.md is regenerated with `mqa report` over every committed run, in the scripts'
# run order. Commit experiments/<table>/real/ afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tar=${1:-}
force=${2:-}
[[ -f $tar ]] || { sed -n '2,12p' "$0" >&2; exit 2; }
case $(basename "$tar") in
  table1_real_runs.tar.gz) table=table1 script=table1_real.sh ;;
  table3_real_runs.tar.gz) table=table3 script=table3_real.sh ;;
  *) echo "error: expected table1_real_runs.tar.gz or table3_real_runs.tar.gz, got $(basename "$tar")" >&2; exit 2 ;;
esac
tar=$(cd "$(dirname "$tar")" && pwd)/$(basename "$tar")
cd "$root"
dest=experiments/$table/real/runs
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar xzf "$tar" -C "$tmp"
added=0
for result in "$tmp"/*/*/result.json; do
  [[ -f $result ]] || continue
  run=$(dirname "$result")
  name=$(basename "$run")
  if [[ -d $dest/$name && $force != --force ]]; then echo "$name: already in $dest, kept (--force replaces it)"; continue; fi
  rm -rf "${dest:?}/$name"
  mkdir -p "$dest/$name"
  for f in config.yaml metrics.jsonl train.log eval.log result.json train_seconds "$run"/eval_*.json; do
    f=$(basename "$f")
    [[ -f $run/$f ]] && cp "$run/$f" "$dest/$name/"
  done
  echo "$name: added to $dest"
  added=$((added + 1))
done
for run in "$tmp"/*/*/; do
  [[ -f $run/result.json ]] || echo "$(basename "$run"): unfinished in this tar (no result.json), left out"
done
source scripts/mqa_build.sh
# The report lists the runs in the script's order.
order=$(sed -n '/^RUN_ORDER="/,/"$/p' "scripts/$script" | tr -d '"' | sed 's/^RUN_ORDER=//' | tr -s ' \n' '\n')
dirs=()
for run in $order; do
  row=${run%%:*} seed=${run##*:}
  name=$row; [[ $seed != 1 ]] && name=${row}_seed$seed
  [[ -f $dest/$name/result.json ]] && dirs+=("$dest/$name")
done
if (( ${#dirs[@]} > 0 )); then
  "$MQA" report "$table" "${dirs[@]}" -o "experiments/$table/real/results.md"
fi
echo "unpack: $added runs added; ${#dirs[@]} committed runs in experiments/$table/real/results.md"
