#include "mqa/config/schema.h"

namespace mqa {

void declare_train_keys(std::vector<KeyDef>& k) {
  using T = TrainConfig;
  const auto S = &Config::train;
  k.push_back(key("train.optimizer", S, &T::optimizer, "adam or adafactor", one_of({"adam", "adafactor"})));
  k.push_back(key("train.lr", S, &T::lr,
                  "learning rate, required for training (no default: 0 = not set, an error): the peak for "
                  "constant/inverse_sqrt (e.g. 0.001 with Adam); for rsqrt_decay the scale of 1/sqrt(max(step, "
                  "warmup)) (e.g. 1.0 with Adafactor, the paper's); ignored by adafactor_relative_step",
                  range(0, 1e6)));
  k.push_back(key("train.schedule", S, &T::schedule,
                  "inverse_sqrt: linear warmup to lr, then lr*sqrt(warmup/step); rsqrt_decay: lr/sqrt(max(step, "
                  "warmup)) (Adafactor's); constant: linear warmup then flat; cosine: linear warmup, then half a "
                  "cosine down to lr*final_lr_ratio at train.max_steps (a fixed-budget run ends annealed)",
                  one_of({"inverse_sqrt", "rsqrt_decay", "constant", "cosine"})));
  k.push_back(key("train.warmup_steps", S, &T::warmup_steps, "warmup steps", range(0, 1e9)));
  k.push_back(key("train.final_lr_ratio", S, &T::final_lr_ratio,
                  "cosine schedule: the learning rate at train.max_steps as a fraction of train.lr", range(0, 1)));
  k.push_back(key("train.beta1", S, &T::beta1, "Adam beta1 (Adafactor's momentum is train.adafactor_beta1)",
                  range(0, 0.9999)));
  k.push_back(key("train.beta2", S, &T::beta2, "Adam beta2", range(0, 0.999999)));
  k.push_back(key("train.eps", S, &T::eps, "Adam epsilon", range(0, 1)));
  k.push_back(key("train.weight_decay", S, &T::weight_decay,
                  "decoupled weight decay (AdamW / Adafactor), applied to matrices, not to biases and norms",
                  range(0, 1)));
  k.push_back(key("train.adafactor_beta1", S, &T::adafactor_beta1,
                  "Adafactor momentum on the update; 0 = none (tensor2tensor's default, the paper's runs)",
                  range(0, 0.9999)));
  k.push_back(key("train.adafactor_decay_rate", S, &T::adafactor_decay_rate,
                  "Adafactor second-moment decay: beta2_t = 1 - step^-rate", range(0, 1)));
  k.push_back(key("train.adafactor_clip_threshold", S, &T::adafactor_clip_threshold,
                  "Adafactor update clipping d: the update is divided by max(1, RMS(update)/d)", range(1e-6, 1e6)));
  k.push_back(key("train.adafactor_eps1", S, &T::adafactor_eps1, "Adafactor: added to grad^2", range(0, 1)));
  k.push_back(key("train.adafactor_eps2", S, &T::adafactor_eps2,
                  "Adafactor: floor of the parameter scale max(eps2, RMS(param))", range(0, 1)));
  k.push_back(key("train.adafactor_scale_parameter", S, &T::adafactor_scale_parameter,
                  "Adafactor: step size relative to the parameter's RMS (tensor2tensor's default)"));
  k.push_back(key("train.adafactor_relative_step", S, &T::adafactor_relative_step,
                  "Adafactor: lr = min(1e-2, 1/sqrt(step)), ignoring train.lr and the schedule"));
  k.push_back(key("train.label_smoothing", S, &T::label_smoothing, "label smoothing of the cross-entropy",
                  range(0, 0.99)));
  k.push_back(key("train.clip_norm", S, &T::clip_norm, "clip the global gradient norm to this; 0 = off",
                  range(0, 1e9)));
  k.push_back(key("train.accumulate", S, &T::accumulate, "batches whose gradients are summed per optimizer step",
                  range(1, 1 << 16)));
  k.push_back(key("train.fused_optimizer", S, &T::fused_optimizer,
                  "adam with parameters on CUDA (LibTorch >= 2): one fused multi-tensor AdamW kernel and a "
                  "multi-tensor gradient norm and clip; false: LibTorch's AdamW and per-parameter norm and clip "
                  "(always so on LibTorch 1.13 and CPU)"));
  k.push_back(key("train.weight_cast", S, &T::weight_cast,
                  "under bf16 autocast, when the fp32 weights are cast to bf16: per_step (once per optimizer step, "
                  "reused by all train.accumulate batches) or per_batch (again for every batch)",
                  one_of({"per_step", "per_batch"})));
  k.push_back(key("train.loss_chunk", S, &T::loss_chunk,
                  "the label-smoothed loss works on this many target tokens at a time in fp32 and recomputes them "
                  "in backward, never holding fp32 [tokens, vocabulary] logits; 0 = all tokens at once",
                  range(0, 1 << 30)));
  k.push_back(key("train.bf16_residual", S, &T::bf16_residual,
                  "under bf16 autocast, keep the residual stream and layer norms in bf16 (statistics in fp32 inside "
                  "the kernel) instead of autocast's fp32 layer norms, whose outputs every following matmul casts "
                  "back to bf16 (measured: 12% shorter steps of the paper's baseline, experiments/training-throughput/); "
                  "false: autocast's fp32. No effect in fp32"));
  k.push_back(key("train.fold_query_heads", S, &T::fold_query_heads,
                  "CUDA, LibTorch >= 2: fused attention (SDPA) sees the query heads that share a key/value head "
                  "folded into the query length (no grouped-query kernel, masks kept fused), and the attention "
                  "input is cast to bf16 once; false: SDPA with enable_gqa and a cast per projection"));
  k.push_back(key("train.overlap_allreduce", S, &T::overlap_allreduce,
                  "data-parallel: all-reduce gradient buckets while backward still runs (gradient hooks); false: "
                  "one all-reduce pass after backward"));
  k.push_back(key("train.deferred_stats", S, &T::deferred_stats,
                  "CUDA with the fused optimizer, one process: a step's loss and gradient norm come back to the host "
                  "one step late, so the host never waits for the GPU between steps (a non-finite step is still "
                  "caught before any later update or checkpoint: the fused kernel skips its update on the device); "
                  "false: one host sync per step, as always on CPU, LibTorch 1.13 and data-parallel runs"));
  k.push_back(key("train.background_save", S, &T::background_save,
                  "checkpoints are written on a background thread while training goes on: the step loop only "
                  "copies the model and optimizer state (on their device) and waits for nothing but the previous "
                  "save; false: the loop waits for every write (serialisation, fsync), as before"));
  k.push_back(key("train.allreduce_bucket_bytes", S, &T::allreduce_bucket_bytes,
                  "data-parallel: gradient bytes per all-reduce (one flattened all-reduce per bucket)",
                  range(1, 2147483647)));
  k.push_back(key("train.max_steps", S, &T::max_steps, "optimizer steps to train", range(1, 1e9)));
  k.push_back(key("train.max_epochs", S, &T::max_epochs, "stop after this many epochs; 0 = only max_steps",
                  range(0, 1e9)));
  k.push_back(key("train.seed", S, &T::seed, "seed of initialisation, dropout and data order", range(0, 2147483647)));
  k.push_back(key("train.device", S, &T::device, "auto picks cuda when available", one_of({"auto", "cpu", "cuda"})));
  k.push_back(key("train.precision", S, &T::precision,
                  "auto: bf16 autocast with fp32 master weights on CUDA, fp32 on CPU",
                  one_of({"auto", "fp32", "bf16"})));
  k.push_back(key("train.log_every", S, &T::log_every, "steps between metrics lines", range(1, 1e9)));
  k.push_back(key("train.valid_every", S, &T::valid_every, "steps between validations", range(1, 1e9)));
  k.push_back(key("train.valid_bleu_sentences", S, &T::valid_bleu_sentences,
                  "seq2seq: greedy BLEU (sacreBLEU 13a) of the first N dev sentences (valid.src.txt / .tgt.txt) at "
                  "each validation, in metrics.jsonl as valid_bleu; 0 = off",
                  range(0, 1e9)));
  k.push_back(key("train.stop_patience", S, &T::stop_patience,
                  "stop once dev ln(PPL) has not improved on its best by more than train.stop_min_delta for this "
                  "many validations in a row (converged on the dev set); 0 = train max_steps",
                  range(0, 1e6)));
  k.push_back(key("train.stop_min_delta", S, &T::stop_min_delta,
                  "with train.stop_patience: the least fall of dev ln(PPL) below its best that counts as improving",
                  range(0, 1e9)));
  k.push_back(key("train.save_every", S, &T::save_every, "steps between checkpoints", range(1, 1e9)));
  k.push_back(key("train.keep_checkpoints", S, &T::keep_checkpoints, "how many step checkpoints to keep",
                  range(1, 1e6)));
  k.push_back(key("train.threads", S, &T::threads, "CPU threads for LibTorch; 0 = its default", range(0, 1024)));
}

}  // namespace mqa
