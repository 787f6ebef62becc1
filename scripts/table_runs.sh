# Sourced by scripts/table1.sh, table3.sh, table1_real.sh and table3_real.sh: what the tables do, once. The caller
# sets
#   TABLE (table1 | table3 | table1_real | table3_real: names the log, the runs folder and the tar),
#   CONFIG_DIR (the row configs), ROWS (config names), SECOND_SEED_ROWS,
#   EVAL_RESERVE (seconds kept for averaging + evaluation of a row), EVAL_TEST_ARGS (extra `mqa eval` args, test),
#   SMOKE_SETS (the --set overrides of TABLE_SMOKE=1)
# and optionally
#   REPORT_TABLE (the paper's table for result.json and `mqa report`; default TABLE),
#   EVAL_VALID_ARGS (the dev evaluation's extra args; default --ppl-only),
#   EXTRA_EVAL_NAME, EXTRA_EVAL_ARGS (a third `mqa eval` of the averaged model, kept in result.json under that name),
#   COMMITTED_RUNS (a folder of committed run directories: a run whose result.json is there is not run again),
#   TABLE_BUDGET_DEFAULT (seconds, when TABLE_BUDGET is unset; default 540),
#   NEEDS_SHARED_DATA=0 (the corpus comes from .carry, not from the shared data folder)
# and then calls: table_setup "$@"; prepare_data ... (or prepare_carried); for each run: run_row CONFIG SEED;
# table_finish.
#
# Budget: everything after the script's start (build and data preparation included) must end inside TABLE_BUDGET
# seconds (default 540, for one 600-second device call). A row starts only when its training can get at least
# MIN_TRAIN seconds besides EVAL_RESERVE; training is stopped (SIGINT: it finishes the step and writes a
# checkpoint) when the budget runs out. Run directories live in TABLE_RUNS (default runs/<table>, git-ignored, kept
# on the device machine between calls while it stays warm): a second call skips finished rows (result.json) and
# resumes an interrupted one (`mqa train --resume`).
#
# $OUT (default /tmp/mqa-out) gets at most four files: build.log, <table>.log, results.md, and <table>_runs.tar.gz
# (each run directory without its checkpoints: config.yaml, metrics.jsonl, train.log, eval_*.json, result.json).

table_usage() {
  cat <<USAGE
usage: bash scripts/$TABLE.sh [--data-dir DIR]
  --data-dir DIR   the shared data folder (default ../shared/data, ../../shared/data or .shared_data)
environment: OUT (/tmp/mqa-out), TABLE_RUNS (runs/$TABLE), TABLE_BUDGET (540 s), TABLE_SMOKE=1 (tiny CPU run),
             MQA (a built mqa; default: build/ on CPU, build-gpu/ via scripts/setup.sh --libtorch python on a GPU machine)
USAGE
}

table_setup() {
  data_dir=
  while [[ $# -gt 0 ]]; do
    case $1 in
      --data-dir) data_dir=$2; shift 2 ;;
      -h|--help) table_usage; exit 0 ;;
      *) echo "error: unknown argument $1" >&2; table_usage >&2; exit 2 ;;
    esac
  done
  if [[ -z $data_dir ]]; then
    # ../shared/data beside a checkout, ../../shared/data beside a worktree (/work/wt/NAME), .shared_data carried.
    for data_dir in ../shared/data ../../shared/data .shared_data; do [[ -d $data_dir ]] && break; done
  fi
  if [[ ${NEEDS_SHARED_DATA:-1} == 1 && ! -d $data_dir ]]; then
    echo "error: data folder $data_dir not found (--data-dir)" >&2; exit 1
  fi
  out=${OUT:-/tmp/mqa-out}
  runs=${TABLE_RUNS:-runs/$TABLE}
  budget=${TABLE_BUDGET:-${TABLE_BUDGET_DEFAULT:-540}}
  REPORT_TABLE=${REPORT_TABLE:-$TABLE}
  MIN_TRAIN=${MIN_TRAIN:-15}
  mkdir -p "$out" "$runs"
  log=$out/$TABLE.log
  : > "$log"
  start=${TABLE_START:-$(date +%s)}
  failed=0 skipped=0 interrupted=0 run_dirs=()
  sets=()
  if [[ ${TABLE_SMOKE:-0} == 1 ]]; then
    for s in $SMOKE_SETS; do sets+=(--set "$s"); done
    say "smoke mode: ${SMOKE_SETS}"
  fi
  build_mqa
  if command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi > /dev/null 2>&1; then
    device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  else
    device="cpu ($(nproc) cores)"
  fi
  say "$TABLE: device $device, budget ${budget} s, runs in $runs, data from $data_dir"
}

# real_table PAPER_TABLE CONFIG_DIR: what table1_real.sh and table3_real.sh share: the paper's table on the corpora
# carried in .carry (no shared data folder), committed runs under experiments/PAPER_TABLE/real/runs, 575 s of a
# 600-second device call, and no run started without 285 s left for its training (MIN_TRAIN, unless the caller set
# it; 15 s in smoke mode): the real configs train until dev ln(PPL) stops falling, at most ~280 s
# (train.max_steps), so that a run finishes within the call that starts it (a fresh machine keeps no checkpoints
# for the next call). The GPU build of a call is packed into $OUT/mqa_gpu_build.tar.gz (PACK_GPU_BUILD=1): unpacked
# here into .prebuilt/ and carried, it spares the next calls their ~2-minute build (scripts/mqa_build.sh).
real_table() {
  TABLE=$1_real REPORT_TABLE=$1 CONFIG_DIR=$2 NEEDS_SHARED_DATA=0 TABLE_BUDGET_DEFAULT=575
  COMMITTED_RUNS=${COMMITTED_RUNS:-experiments/$1/real/runs}
  MIN_TRAIN=${MIN_TRAIN:-285}
  [[ ${TABLE_SMOKE:-0} == 1 ]] && MIN_TRAIN=15
  PACK_GPU_BUILD=1
  return 0
}

say() { echo "$*" | tee -a "$log"; }
elapsed() { echo $(( $(date +%s) - start )); }

# On a machine with a GPU: the CUDA build (build-gpu/); otherwise build/ (scripts/mqa_build.sh).
build_mqa() {
  local pack=
  [[ ${PACK_GPU_BUILD:-0} == 1 ]] && pack=$out/mqa_gpu_build.tar.gz
  MQA_BUILD_LOG=$out/build.log MQA_PACK_BUILD=${MQA_PACK_BUILD:-$pack} \
    source "$(dirname "${BASH_SOURCE[0]}")/mqa_build.sh"
  export MQA
  say "build: $MQA ready after $(elapsed) s"
}

# prepare_data SCRIPT FLAG RAW_SUBDIR PREPARED_DIR: runs a prepare script once (skipped when PREPARED_DIR is done).
prepare_data() {
  local script=$1 flag=$2 raw=$data_dir/$3 prepared=$4
  if [[ -f $prepared/spm.model && -f $prepared/.prepared ]]; then
    say "data: $prepared already prepared"
    return
  fi
  bash "$script" "$flag" "$raw" "$prepared" >> "$log" 2>&1 || { say "FAILED: $script $flag $raw $prepared"; tail -20 "$log"; exit 1; }
  touch "$prepared/.prepared"
  say "data: prepared $prepared after $(elapsed) s"
}

# prepare_carried NAME CONFIG: the corpus packed by scripts/pack_real_data.sh into .carry/real/NAME (xz text,
# spm.model) unpacked into data/real/text/NAME, then `mqa prepare CONFIG` into its data.dir with the carried
# vocabulary (only the encoding runs here). Skipped when that data.dir is prepared. TABLE_SMOKE=1: the first
# SMOKE_LINES lines of each training file (default 20000) and of valid/test (300), in NAME-smoke, for a quick
# end-to-end check.
prepare_carried() {
  local name=$1 config=$2 carried=.carry/real/$1 text=data/real/text/$1 prepared=data/real/$1
  [[ -d $carried ]] || { say "FAILED: $carried is missing: run bash scripts/pack_real_data.sh and carry .carry"; exit 1; }
  local -a data_sets=()
  local f
  if [[ ${TABLE_SMOKE:-0} == 1 ]]; then
    # The slice's files by name (train.en -> data.train_source, ...); every call, prepared or not, trains on them.
    prepared=data/real/$name-smoke
    data_sets=(--set "data.dir=$prepared")
    for f in "$carried"/*.xz; do
      local base; base=$(basename "${f%.xz}")
      local key=
      case $base in
        *.en) key=data.${base%.en}_source ;;
        *.de) key=data.${base%.de}_target ;;
        train.txt|valid.txt|test.txt) key=data.${base%.txt}_text ;;
      esac
      [[ -n $key ]] && data_sets+=(--set "$key=$text-smoke/$base")
    done
    sets+=("${data_sets[@]}")
  fi
  if [[ -f $prepared/prepare.done ]]; then say "data: $prepared already prepared"; return; fi
  mkdir -p "$text" "$prepared"
  for f in "$carried"/*.xz; do
    local to=$text/$(basename "${f%.xz}")
    [[ -f $to ]] && continue
    if command -v xz > /dev/null; then
      xz -dc "$f" > "$to.tmp"
    else  # python3's lzma: the GPU machine's image need not have xz
      python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "$to.tmp"
    fi || { say "FAILED: unpacking $f"; exit 1; }
    mv "$to.tmp" "$to"
  done
  say "data: unpacked $carried into $text after $(elapsed) s"
  [[ -f $carried/spm.model ]] && cp "$carried/spm.model" "$prepared/spm.model"
  if [[ ${TABLE_SMOKE:-0} == 1 ]]; then
    mkdir -p "$text-smoke"
    for f in "$text"/*; do
      case $(basename "$f") in
        train.*) head -n "${SMOKE_LINES:-20000}" "$f" > "$text-smoke/$(basename "$f")" ;;
        valid.*|test.*|wikitext*) head -n 300 "$f" > "$text-smoke/$(basename "$f")" ;;
      esac
    done
  fi
  "$MQA" prepare "$config" "${data_sets[@]}" >> "$log" 2>&1 || { say "FAILED: mqa prepare $config"; tail -20 "$log"; exit 1; }
  say "data: prepared $prepared after $(elapsed) s ($(grep -o '[0-9]* words/s on [0-9]* threads' "$log" | sort -n | tail -1))"
}

json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

# The commands of a run, for result.json.
remember() { commands+=("$*"); }

# TABLE_SMOKE=1: the row's widths (d_model, d_k, d_v, d_ff, window) divided by 8, so that a CPU runs it in seconds
# while every row keeps its attention shape relative to d_model (the report matches paper rows by that shape).
smoke_width_sets() {
  [[ ${TABLE_SMOKE:-0} == 1 ]] || return 0
  local header; header=$("$MQA" params "$1" | head -1)
  for key in d_model d_k d_v d_ff window; do
    local v; v=$(grep -o "[ (]$key [0-9]*" <<< "$header" | grep -o '[0-9]*$')
    printf -- '--set model.%s=%s ' "$key" $(( ${v:-0} / 8 ))
  done
}

# run_row CONFIG_NAME SEED: train, average the kept checkpoints, evaluate dev (ln PPL) and test, write result.json.
run_row() {
  local row=$1 seed=$2 config=$CONFIG_DIR/$1.yaml
  local name=$row; [[ $seed != 1 ]] && name=${row}_seed$seed
  local dir=$runs/$name
  if [[ -n ${COMMITTED_RUNS:-} && -f $COMMITTED_RUNS/$name/result.json ]]; then
    run_dirs+=("$COMMITTED_RUNS/$name")
    say "$name: committed in $COMMITTED_RUNS, skipped"; return
  fi
  run_dirs+=("$dir")
  if [[ -f $dir/result.json ]]; then say "$name: done earlier (result.json), skipped"; return; fi
  local remaining=$(( budget - $(elapsed) ))
  if (( interrupted || remaining < EVAL_RESERVE + MIN_TRAIN )); then
    say "$name: SKIPPED (time budget: $(elapsed) s of $budget used); run the script again to continue"
    skipped=$((skipped + 1)); return
  fi
  mkdir -p "$dir"
  commands=()
  local -a row_sets=()
  [[ ${TABLE_SMOKE:-0} == 1 ]] && read -r -a row_sets <<< "$(smoke_width_sets "$config")"
  local row_start=$(date +%s) resume=()
  [[ -f $dir/checkpoint_last.pt ]] && resume=(--resume)
  local train=("$MQA" train "$config" --run-dir "$dir" --set train.seed="$seed" "${sets[@]}" "${row_sets[@]}" "${resume[@]}")
  remember "${train[@]}"
  local limit=$(( remaining - EVAL_RESERVE ))
  say "$name: training (${resume[*]:-fresh}, at most $limit s)"
  timeout -s INT "$limit" "${train[@]}" >> "$dir/train.log" 2>&1
  local rc=$? train_s=$(( $(date +%s) - row_start ))
  local before=0; [[ -f $dir/train_seconds ]] && before=$(cat "$dir/train_seconds")
  echo $(( before + train_s )) > "$dir/train_seconds"
  if [[ $rc == 124 || $rc == 130 ]]; then
    say "$name: INTERRUPTED by the time budget after $train_s s ($(grep -o 'stopped at step [0-9]*' "$dir/train.log" | tail -1)); the next call resumes it"
    interrupted=1; skipped=$((skipped + 1)); return
  elif [[ $rc != 0 ]]; then
    say "$name: FAILED: training exit $rc"; tail -5 "$dir/train.log" | tee -a "$log"; failed=$((failed + 1)); return
  fi
  local steps; steps=$(grep -o 'done: [0-9]* steps' "$dir/train.log" | tail -1 | grep -o '[0-9]*')
  local ckpts; ckpts=$(ls "$dir"/checkpoint_[0-9]*.pt | tr "\n" " ")
  local steps_line; steps_line=$(grep -o '"elapsed":[0-9.]*' "$dir/metrics.jsonl" | tail -1)
  say "$name: trained $steps steps in $train_s s wall ($steps_line in the trainer)"
  local avg=("$MQA" average $ckpts -o "$dir/average.pt")
  local dev=("$MQA" eval "$dir/average.pt" --split valid --quiet --json "$dir/eval_valid.json" ${EVAL_VALID_ARGS:---ppl-only})
  local test=("$MQA" eval "$dir/average.pt" --split test --quiet --json "$dir/eval_test.json" $EVAL_TEST_ARGS)
  local steps_to_run=(avg dev test) extra=()
  if [[ -n ${EXTRA_EVAL_NAME:-} ]]; then
    extra=("$MQA" eval "$dir/average.pt" --quiet --json "$dir/eval_$EXTRA_EVAL_NAME.json" $EXTRA_EVAL_ARGS)
    steps_to_run+=(extra)
  fi
  for step in "${steps_to_run[@]}"; do
    local -n step_cmd=$step
    remember "${step_cmd[@]}"
    if ! "${step_cmd[@]}" >> "$dir/eval.log" 2>&1; then
      say "$name: FAILED: ${step_cmd[*]}"; tail -5 "$dir/eval.log" | tee -a "$log"; failed=$((failed + 1)); return
    fi
  done
  local params; params=$("$MQA" params "$config" "${sets[@]}" "${row_sets[@]}" | awk '$1 == "total" {print $2; exit}')
  {
    printf '{\n  "table": "%s",\n  "row": "%s",\n  "config": "%s",\n  "seed": %s,\n' "$REPORT_TABLE" "$row" "$config" "$seed"
    printf '  "params": %s,\n  "device": %s,\n  "steps": %s,\n' "${params:-0}" "$(json_string "$device")" "${steps:-0}"
    printf '  "converged": %s,\n' "$(grep -q '^converged' "$dir/train.log" && echo true || echo false)"
    printf '  "train_seconds": %s,\n  "row_seconds": %s,\n' "$(cat "$dir/train_seconds")" $(( $(date +%s) - row_start + before ))
    printf '  "commands": ['
    local first=1
    for text in "${commands[@]}"; do (( first )) || printf ', '; first=0; json_string "$text"; done
    printf '],\n  "valid": '; cat "$dir/eval_valid.json"
    printf ',\n  "test": '; cat "$dir/eval_test.json"
    if [[ -n ${EXTRA_EVAL_NAME:-} ]]; then printf ',\n  "%s": ' "$EXTRA_EVAL_NAME"; cat "$dir/eval_$EXTRA_EVAL_NAME.json"; fi
    printf '}\n'
  } > "$dir/result.json.tmp" && mv "$dir/result.json.tmp" "$dir/result.json"
  # The step checkpoints are averaged; only checkpoint_last.pt (a hard link to the newest) and average.pt stay.
  find "$dir" -name 'checkpoint_[0-9]*.pt' -links 1 -delete
  say "$name: $(grep -o '"ln_ppl": [0-9.]*' "$dir/eval_valid.json" | head -1) (dev), $(tr -d '\n' < "$dir/eval_test.json" | grep -o '"bleu": [0-9.]*' | tr '\n' ' ')$(grep -o '"word_ppl": [0-9.]*' "$dir/eval_test.json") (test); row $(( $(date +%s) - row_start )) s"
}

table_finish() {
  local done_dirs=()
  for d in "${run_dirs[@]}"; do [[ -f $d/result.json ]] && done_dirs+=("$d"); done
  if (( ${#done_dirs[@]} > 0 )); then
    "$MQA" report "$REPORT_TABLE" "${run_dirs[@]}" -o "$out/results.md" >> "$log" 2>&1 || { say "FAILED: mqa report"; failed=$((failed + 1)); }
  fi
  tar czf "$out/${TABLE}_runs.tar.gz" --exclude='*.pt' --exclude='.tmp-*' -C "$(dirname "$runs")" "$(basename "$runs")"
  say "$TABLE.sh: $(elapsed) s; ${#done_dirs[@]} of ${#run_dirs[@]} runs finished, $skipped skipped or interrupted" \
      "(run again to continue), $failed failed; results in $out/results.md"
  [[ $failed == 0 ]]
}
