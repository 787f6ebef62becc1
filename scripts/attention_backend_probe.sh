#!/usr/bin/env bash
# What batches of changing shape cost (issues 14, 16, 17), on the GPU machine in ONE call, carrying .deps and
# .carry (scripts/pack_real_data.sh, plus ../shared/data/wmt-newstest copied to .carry/newstest):
#   bash scripts/attention_backend_probe.sh
# SDPA's cuDNN attention builds an execution plan for every new shape before its first call. Training cuts
# length-bucketed batches whose rows and lengths change from step to step, and translate's batches differ too, so
# both may pay that again and again where bench (fixed shapes, warmed up) does not. Measured here:
#   1. Table 1's real baseline (configs/wmt14/real/base.yaml on its real corpus) trained PROBE_STEPS steps (default
#      400) with cuDNN attention allowed (MQA_SDPA_CUDNN=1) and not (=0): training tokens/s of each;
#   2. PARALLEL (default 3) such trainings at once on the one GPU, with the faster setting: the tokens/s of all
#      together against one alone (whether the table scripts should train several runs per call);
#   3. scripts/translate_throughput.sh (newstest2014, beam 4, width multiples 8 and 32) with the faster setting:
#      translate against bench at translate's own shapes.
# $OUT gets build.log (and mqa_gpu_build.tar.gz after a build, as the real-table scripts), attention_backend_probe.log,
# probe.jsonl (one line per training measurement) and translate_throughput.sh's files (translate_vs_bench*.json,
# translate_batches*.json).
set -uo pipefail
source "$(dirname "$0")/table_runs.sh"
real_table table1 configs/wmt14/real
TABLE=attention_backend_probe  # names the log ($OUT/attention_backend_probe.log); Table 1's configs and corpus stay
# TABLE_SMOKE=1 (a check of this script on a CPU, with PROBE_STEPS=120 PARALLEL=2 WIDTH_MULTIPLES=none): a 1+1-layer
# model on 1024-token batches of a slice of the corpus.
SMOKE_SETS="model.encoder_layers=1 model.decoder_layers=1 model.d_model=64 model.d_ff=256 model.d_k=8 model.d_v=8
  data.batch_tokens=1024 train.log_every=10 train.device=cpu"
table_setup
prepare_carried wmt "$CONFIG_DIR/base.yaml"
steps=${PROBE_STEPS:-400}
parallel=${PARALLEL:-3}
json=$out/probe.jsonl; : > "$json"
# No validation and no checkpoints inside the probe: only the training steps are timed.
probe_sets=(--set train.max_steps="$steps" --set train.valid_every=1000000 --set train.save_every=1000000
            --set train.stop_patience=0)

# train_probe LABEL CUDNN DIR: one training of the baseline into DIR (in the background when called with &).
train_probe() {
  rm -rf "$3"
  MQA_SDPA_CUDNN=$2 timeout 200 "$MQA" train "$CONFIG_DIR/base.yaml" --run-dir "$3" "${sets[@]}" "${probe_sets[@]}" \
    > "$3.log" 2>&1 || say "$1: FAILED (exit $?): $(tail -2 "$3.log")"
}
# summarise LABEL CUDNN DIR...: tokens/s of the runs in DIR... (together: all tokens over the longest elapsed),
# overall and after their first 100 steps (first-use costs then mostly paid), appended to probe.jsonl.
summarise() {
  local label=$1 cudnn=$2; shift 2
  python3 - "$label" "$cudnn" "$json" "$@" <<'PY' | tee -a "$log"
import json, sys
label, cudnn, out, dirs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
runs = []
for d in dirs:
    rows = [json.loads(l) for l in open(d + "/metrics.jsonl") if '"split":"train"' in l]
    runs.append(rows)
tokens = sum(r[-1]["tokens"] for r in runs)
elapsed = max(r[-1]["elapsed"] for r in runs)
later = [next(x for x in r if x["step"] >= 100) for r in runs]
late_tokens = sum(r[-1]["tokens"] - x["tokens"] for r, x in zip(runs, later))
late_elapsed = max(r[-1]["elapsed"] for r in runs) - min(x["elapsed"] for x in later)
row = {"label": label, "sdpa_cudnn": int(cudnn), "runs": len(runs), "steps": runs[0][-1]["step"],
       "tokens_per_s": tokens / elapsed, "tokens_per_s_after_step_100": late_tokens / late_elapsed,
       "elapsed_s": elapsed}
with open(out, "a") as f:
    f.write(json.dumps(row) + "\n")
print(f"{label}: {len(runs)} run(s) x {row['steps']} steps, cuDNN attention {'on' if cudnn == '1' else 'off'}: "
      f"{row['tokens_per_s']:.0f} tokens/s in all, {row['tokens_per_s_after_step_100']:.0f} after step 100 "
      f"({elapsed:.1f} s)")
PY
}

probes=/tmp/mqa-probe; mkdir -p "$probes"
for cudnn in 1 0; do
  say "[$(elapsed) s] one run, MQA_SDPA_CUDNN=$cudnn"
  train_probe "single_cudnn$cudnn" "$cudnn" "$probes/single_cudnn$cudnn"
  summarise "single" "$cudnn" "$probes/single_cudnn$cudnn"
done
best=$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(max(rows, key=lambda r: r["tokens_per_s"])["sdpa_cudnn"])' "$json") \
  || { say "FAILED: no training measurement (see $probes/*.log)"; exit 1; }
say "[$(elapsed) s] faster: MQA_SDPA_CUDNN=$best; $parallel runs at once"
dirs=()
for i in $(seq "$parallel"); do
  dirs+=("$probes/parallel$i")
  train_probe "parallel$i" "$best" "$probes/parallel$i" &
done
wait
summarise "parallel" "$best" "${dirs[@]}"

[[ ${WIDTH_MULTIPLES:-} == none ]] && { say "[$(elapsed) s] done"; exit 0; }
say "[$(elapsed) s] translate vs bench, MQA_SDPA_CUDNN=$best"
MQA_SDPA_CUDNN=$best WIDTH_MULTIPLES=${WIDTH_MULTIPLES:-8 32} OUT=$out timeout 240 \
  bash scripts/translate_throughput.sh 2>&1 | tee -a "$log"
say "[$(elapsed) s] done"
