#!/usr/bin/env bash
# Issue 16 on the GPU machine, in ONE call (carry .deps; README "GPU build"), from the project root:
#   bash scripts/training_throughput.sh
# About 2 min of build, then about 4-5 min on an H200 (H100 alike):
#   1. the CUDA tests of the fused training paths (fused AdamW, multi-tensor clip, chunked loss on bf16 logits,
#      folded-query-head attention forward and backward per variant, and which SDPA backend each call takes);
#   2. the paper's baseline (configs/wmt14/base.yaml) at source = target = 256: tokens/s and MFU on the new path
#      for TRAIN_BATCHES (default 128 256 384, stopping at the first that does not fit), and the old path at the
#      best batch (train.fused_optimizer=false, weight_cast=per_batch, loss_chunk=0, fold_query_heads=false,
#      bf16_residual=false);
#   3. per-token training cost of multi-head vs multi-query (and their local rows) at the best batch, and
#      multi-query on the old path; base and multi-query again with autocast's fp32 residual stream and layer
#      norms (train.bf16_residual=false; the default keeps them bf16); every bench run of the
#      new path lists the attention calls of one step and the SDPA backend of each (--attention-kernels); TRAIN_AB
#      picks the A/B rows of the best batch (default: old no_loss_kernels no_layer_norm_kernel no_relu_epilogue
#      no_fused_projections fp32_residual; see the script);
#   4. one profiled step of the baseline (PROFILE_ROWS: of each row named) at the best batch, kernels by class and
#      the top PROFILE_TOP (30) kernels (scripts/profile_report.py);
#   5. loss curves: 300 steps of `mqa train` on the built-in corpus (the quickstart model, multi-query, on CUDA
#      in bf16, train.accumulate 2), new path vs old path with the same seed, the new path with the fp32 residual
#      stream, beside the old path run again (run-to-run noise) and with another seed (seed spread; new_seed2: the
#      new path with another seed, for TRAIN_CURVES="new fp32_residual new_seed2"; no_loss_kernels: the new path
#      without the fused loss kernels; no_relu_epilogue: without the ReLU in the GEMM epilogue;
#      no_fused_projections: a GEMM per attention projection);
#   6. a summary table, last.
# Bench steps are the trainer's own (train_step.h) with Adam, label smoothing 0.1 and clip_norm 1.0. Writes into
# $OUT: cuda_tests.log, throughput.jsonl, throughput.log, train_profile.md (+ train_profile_ROW.train.json), curves/*.jsonl,
# curves.md, summary.md. Copy the .jsonl, .log and .md files to experiments/training-throughput/.
set -uo pipefail
out=${OUT:-/tmp/mqa-out}; mkdir -p "$out/curves"
MQA_BUILD_LOG=$out/build.log source scripts/mqa_build.sh
mqa=$MQA
tests=$(dirname "$mqa")/mqa_tests
json=$out/throughput.jsonl; log=$out/throughput.log
rm -f "$json"
start=$SECONDS
stamp() { echo "[$((SECONDS - start)) s] $*" | tee -a "$log"; }

stamp "CUDA tests of the fused training paths"
if [[ -x $tests ]]; then
  timeout 120 "$tests" --gtest_filter='CudaTrain.*:*CudaFoldedAttention.*:*CudaModel.*' > "$out/cuda_tests.log" 2>&1
  grep -E "^\[  (PASSED|FAILED) |^\[  FAILED|x .*attention" "$out/cuda_tests.log" | head -40
else
  echo "no $tests (build without tests?)" | tee "$out/cuda_tests.log"
fi

common=(--set bench.warmup=2 --set bench.repeats=5 --set bench.source_len=256 --set bench.target_len=256
        --set bench.device=cuda --set train.label_smoothing=0.1 --set train.clip_norm=1.0)
old_path=(--set train.fused_optimizer=false --set train.weight_cast=per_batch --set train.loss_chunk=0
          --set train.bf16_residual=false
          --set train.fold_query_heads=false)
bench() {  # bench CONFIG LABEL BATCH [extra args]: one `mqa bench train` appending to $json; status of the run
  local config=$1 label=$2 batch=$3; shift 3
  stamp "bench $label, batch $batch"
  timeout 150 $mqa bench train "$config" --label "$label" "${common[@]}" --set bench.train_batch_size="$batch" \
    --json "$json" "$@" >> "$log" 2>&1
}
last_mfu() { tail -1 "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mfu"])'; }

best_batch=0; best_mfu=0
for batch in ${TRAIN_BATCHES:-128 256 384}; do
  if bench configs/wmt14/base.yaml base_s256 "$batch" --attention-kernels; then
    grep "^bench train" "$log" | tail -1
    mfu=$(last_mfu)
    if python3 -c "import sys; sys.exit(0 if $mfu > $best_mfu else 1)"; then best_mfu=$mfu; best_batch=$batch; fi
  else
    echo "batch $batch failed (the largest that fits is the previous one):"; grep -iE "out of memory|error" "$log" | tail -2
    break
  fi
done
echo "best MFU $best_mfu at batch $best_batch"
if [[ $best_batch -gt 0 ]]; then
  # The A/B rows of TRAIN_AB (default all): the best batch on the old path, and the new path with one of its parts
  # switched off.
  all_ab="old no_loss_kernels no_layer_norm_kernel no_relu_epilogue no_fused_projections fp32_residual"
  ab() { [[ " ${TRAIN_AB:-$all_ab} " == *" $1 "* ]]; }
  ab old && bench configs/wmt14/base.yaml base_s256_old_path "$best_batch" "${old_path[@]}" \
    && grep "^bench train" "$log" | tail -1
  # the same new path with the loss on LibTorch's chunks instead of the fused CUDA loss kernels (src/mqa/train/loss.cpp)
  ab no_loss_kernels && MQA_LOSS_KERNELS=0 bench configs/wmt14/base.yaml base_s256_no_loss_kernels "$best_batch" \
    && grep "^bench train" "$log" | tail -1
  # ... and with the layer norms' weight gradients on LibTorch's GammaBetaBackward instead of kernels/layer_norm_grad.cu
  ab no_layer_norm_kernel && MQA_LAYER_NORM_KERNELS=0 bench configs/wmt14/base.yaml base_s256_no_layer_norm_kernel \
    "$best_batch" && grep "^bench train" "$log" | tail -1
  # ... and with the feed-forward ReLU as a kernel of its own, not in the first GEMM's epilogue (util/linear_relu.h)
  ab no_relu_epilogue && MQA_RELU_EPILOGUE=0 bench configs/wmt14/base.yaml base_s256_no_relu_epilogue "$best_batch" \
    && grep "^bench train" "$log" | tail -1
  # ... and with a GEMM per attention projection instead of one per input (model/attention.h), both variants
  for row in base multi_query; do
    ab no_fused_projections && MQA_FUSED_PROJECTIONS=0 bench configs/wmt14/$row.yaml ${row}_s256_no_fused_projections \
      "$best_batch" && grep "^bench train" "$log" | tail -1
  done
  for row in base multi_query; do
    ab fp32_residual && bench configs/wmt14/$row.yaml ${row}_s256_fp32_residual "$best_batch" \
      --set train.bf16_residual=false && grep "^bench train" "$log" | tail -1
  done
  for row in ${TRAIN_ROWS:-multi_query multi_head_local multi_query_local}; do
    bench configs/wmt14/$row.yaml ${row}_s256 "$best_batch" --attention-kernels && grep "^bench train" "$log" | tail -1
  done
  if [[ ${TRAIN_KERNEL_RUNS:-1} == 1 ]]; then
    bench configs/wmt14/multi_query.yaml multi_query_s256_old_path "$best_batch" "${old_path[@]}" \
      --attention-kernels --set bench.warmup=1 --set bench.repeats=2
  fi
  # One profiled step per PROFILE_ROWS (default: base; "base multi_query" compares the two kernel by kernel) into
  # train_profile.md (appended, one section a row). PROFILE_SETS: extra --set arguments for the profiled steps.
  rm -f "$out/train_profile.md"
  for row in ${PROFILE_ROWS:-base}; do
    stamp "profiled step: $row"
    # shellcheck disable=SC2086
    timeout 150 $mqa bench train configs/wmt14/$row.yaml --label ${row}_s256_profiled "${common[@]}" ${PROFILE_SETS:-} \
      --set bench.repeats=1 --set bench.train_batch_size="$best_batch" --profile "$out/train_profile_$row" >> "$log" 2>&1 \
      && python3 scripts/profile_report.py "$out/train_profile_$row.train.json" --steps 1 --top ${PROFILE_TOP:-30} \
           --label "$row, B $best_batch, S = T = 256, one training step" --out "$out/train_profile.md" | head -40
  done
fi

stamp "loss curves: 300 steps of mqa train, old vs new path"
data=/tmp/mqa-quickstart-data
curve() {  # curve NAME [extra args]
  local name=$1; shift
  local rc=0
  rm -rf "/tmp/mqa-curve-$name"
  timeout 150 $mqa train configs/quickstart.yaml --run-dir "/tmp/mqa-curve-$name" --set data.dir=$data \
    --set train.device=cuda --set train.threads=0 --set train.max_steps=${CURVE_STEPS:-300} --set train.accumulate=2 \
    --set train.log_every=10 --set train.valid_every=100 --set train.save_every=300 "$@" \
    > "$out/curves/$name.log" 2>&1 || rc=$?
  cp "/tmp/mqa-curve-$name/metrics.jsonl" "$out/curves/$name.jsonl" 2>/dev/null
  stamp "curve $name: rc $rc; $(tail -1 "$out/curves/$name.log")"
}
curves=${TRAIN_CURVES:-new fp32_residual old old_again old_seed2}
for name in $curves; do
  case $name in
    new) curve new ;;
    fp32_residual) curve fp32_residual --set train.bf16_residual=false ;;
    new_seed2) curve new_seed2 --set train.seed=2 ;;
    no_loss_kernels) MQA_LOSS_KERNELS=0 curve no_loss_kernels ;;
    no_relu_epilogue) MQA_RELU_EPILOGUE=0 curve no_relu_epilogue ;;
    no_fused_projections) MQA_FUSED_PROJECTIONS=0 curve no_fused_projections ;;
    old) curve old "${old_path[@]}" ;;
    old_again) curve old_again "${old_path[@]}" ;;
    old_seed2) curve old_seed2 "${old_path[@]}" --set train.seed=2 ;;
  esac
done

python3 - "$out" "$json" "$best_batch" "$curves" <<'PY' | tee "$out/summary.md"
import json, os, sys
out, path, best, curve_names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
rows = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
def curve(name):
    p = os.path.join(out, "curves", name + ".jsonl")
    if not os.path.exists(p): return {}, {}
    lines = [json.loads(l) for l in open(p)]
    return ({l["step"]: l["loss"] for l in lines if l.get("split") == "train"},
            {l["step"]: l["ln_ppl"] for l in lines if l.get("split") == "valid"})
print("## Training step, S = T = 256 (us per target token, MFU)\n")
print("MFU: of the bf16 matmul rate the row's run measured (its TFLOP/s in brackets); datasheet: of the vendor's "
      "dense bf16 peak (src/mqa/bench/roofline.h).\n")
print("| Label | Batch | Step ms | us/token | MFU (measured rate) | MFU (datasheet) | Optimizer | Path |")
print("|---|---:|---:|---:|---:|---:|---|---|")
for r in rows:
    sheet = f"{100 * r['mfu_datasheet']:.1f}%" if r.get("mfu_datasheet") else "-"
    print(f"| {r['label']} | {r['batch']} | {r['step_ms']['median']:.1f} | {r['us_per_token']:.3f} | "
          f"{100 * r['mfu']:.1f}% ({r['ceilings']['matmul_TFLOPs']:.0f}) | {sheet} | {r['optimizer']} | "
          f"{r['step_path']} |")
cost = {r["label"]: r["us_per_token"] for r in rows if int(r["batch"]) == int(best)}
if "base_s256" in cost and "multi_query_s256" in cost:
    a, b = cost["base_s256"], cost["multi_query_s256"]
    print(f"\nmulti-query / multi-head per-token training cost at batch {best}: {b:.3f} / {a:.3f} us = "
          f"{b / a:.3f} (acceptance: within 3%, |ratio - 1| <= 0.03: {'met' if abs(b / a - 1) <= 0.03 else 'NOT met'};"
          f" paper 13.0 / 13.2 = 0.985)")
new = [r for r in rows if r["label"] == "base_s256" and int(r["batch"]) == int(best)]
def versus(label, what, acceptance=False):
    """The new path's step (base_s256 at the best batch) against the run labelled `label`, as `what`."""
    other = [r for r in rows if r["label"] == label]
    if not (other and new): return
    a, b = new[0], other[0]
    tail = f" (acceptance: >= 50%: {'met' if a['mfu'] >= 0.5 else 'NOT met'})" if acceptance else ""
    print(f"\n{what} step time at batch {best}: {a['step_ms']['median']:.1f} / {b['step_ms']['median']:.1f} ms; "
          f"MFU {100 * a['mfu']:.1f}% vs {100 * b['mfu']:.1f}%{tail}")
versus("base_s256_fp32_residual", "new path (bf16 residual stream) / fp32 residual stream")
if "base_s256_fp32_residual" in cost and "multi_query_s256_fp32_residual" in cost:
    a, b = cost["base_s256_fp32_residual"], cost["multi_query_s256_fp32_residual"]
    print(f"multi-query / multi-head per-token cost with the fp32 residual stream: {b:.3f} / {a:.3f} us = {b / a:.3f}")
versus("base_s256_no_loss_kernels", "fused loss kernels / LibTorch loss chunks")
versus("base_s256_no_layer_norm_kernel", "layer norm weight-gradient kernel / LibTorch's GammaBetaBackward")
versus("base_s256_no_relu_epilogue", "ReLU in the GEMM epilogue / ReLU kernel")
versus("base_s256_no_fused_projections", "one GEMM per attention input / one per projection")
if "multi_query_s256" in cost and "multi_query_s256_no_fused_projections" in cost:
    a, b = cost["multi_query_s256"], cost["multi_query_s256_no_fused_projections"]
    print(f"multi-query, one GEMM per attention input / one per projection: {a:.3f} / {b:.3f} us per token = "
          f"{a / b:.3f}")
versus("base_s256_old_path", "new / old path", acceptance=True)
print("\n## Attention calls of one training step (count x what: SDPA backend [route])\n")
for r in rows:
    if r.get("attention_kernels"):
        print(f"- {r['label']}:")
        for what, n in r["attention_kernels"].items(): print(f"  - {n} x {what}")
names = [n for n in ["new", "fp32_residual", "new_seed2", "no_loss_kernels", "no_relu_epilogue",
                     "no_fused_projections", "old", "old_again", "old_seed2"] if n in curve_names]
curves = {n: curve(n) for n in names}
steps = sorted(set.intersection(*[set(curves[n][0]) for n in names])) if names and all(curves[n][0] for n in names) else []
print("\n## Loss curves: quickstart model, 300 steps, accumulate 2, bf16 on CUDA (training loss per 10 steps)\n")
if steps:
    print("| step | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for s in steps:
        print(f"| {s} | " + " | ".join(f"{curves[n][0][s]:.4f}" for n in names) + " |")
    def gap(a, b): return max(abs(curves[a][0][s] - curves[b][0][s]) for s in steps)
    for a, b, what in [("new", "old", "new vs old path"), ("new", "fp32_residual", "new path vs its fp32 residual stream"),
                       ("new", "new_seed2", "seed spread, new path"),
                       ("new", "no_loss_kernels", "fused loss kernels vs LibTorch chunks"),
                       ("new", "no_relu_epilogue", "ReLU in the GEMM epilogue vs ReLU kernel"),
                       ("new", "no_fused_projections", "one GEMM per attention input vs one per projection"),
                       ("old", "old_again", "run to run"),
                       ("old", "old_seed2", "seed spread")]:
        if a in names and b in names:
            print(f"- max |{a} - {b}| ({what}): {gap(a, b):.4f}")
    for n in names:
        v = curves[n][1]
        print(f"- {n}: valid ln PPL " + ", ".join(f"step {s}: {v[s]:.4f}" for s in sorted(v)))
elif names:
    print("(some curve is missing: see curves/*.log)")
else:
    print("(no curves this run: TRAIN_CURVES was empty)")
PY
stamp "done"
