// The training loop (issue 6). One optimizer step (steps 1-3 and 5 are TrainStep's, train_step.h, which also
// says which train.* switches choose its kernels):
//   1. take train.accumulate batches; their gradients are summed, each batch's label-smoothed loss divided by the
//      target tokens of all of them (the gradient of the per-token mean over the step);
//   2. forward under bf16 autocast on CUDA (fp32 master weights), fp32 on CPU (train.precision);
//   3. global gradient norm (reported before clipping), clipping to train.clip_norm;
//   4. a non-finite loss or gradient norm stops the run before the update, naming the step; no checkpoint is
//      written after it, so the last one on disk is the last good state;
//   5. learning rate from the schedule (lr_schedule.h), optimizer step.
// Every train.log_every steps a metrics line (metrics.h), every train.valid_every steps and at the end the
// per-token ln(PPL) of the validation data (eval/perplexity.h: dropout off, no label smoothing, train.precision;
// the scorer of `mqa eval`) and, with train.valid_bleu_sentences, greedy BLEU on the first dev sentences
// (valid_bleu.h), every train.save_every steps and at the end a checkpoint (checkpoint_<step>.pt,
// checkpoint_last.pt; the newest train.keep_checkpoints kept).
// SIGINT / SIGTERM (signals.h): the current step finishes, a checkpoint is written, run() returns. That checkpoint
// is checkpoint_last.pt alone (a resume point): it is not one of the kept checkpoint_<step>.pt files that a run
// averages, and pushes none of them out.
//
// Resuming (--resume) loads run_dir/checkpoint_last.pt: parameters, optimizer moments, step, RNG (CPU, and CUDA
// when on CUDA) and the data position, and continues exactly as if never stopped (on CPU bitwise identical losses
// with the same thread count: see tests/test_train_loop.cpp).
//
// Data parallelism (TrainerOptions::dist, launched by torchrun: docs/distributed.md). Every rank builds the same
// model, then takes rank 0's parameters. Each rank reads its own batches of one shared batch order (the
// BatchIterator's shard: rank r of W takes batches r, r + W, ...), so a step of W ranks with train.accumulate A
// consumes the same A x W batches as one process with accumulate A x W. The loss is divided by the target tokens
// of the whole step (summed over ranks) and the gradients are summed over ranks before the norm, so clipping and
// the update are the single-process ones up to float summation order, and identical on every rank. Stopping
// (signal on any rank, non-finite loss or norm on any rank) is agreed through an all-reduce, so every rank stops
// at the same step. Validation is sharded too: rank r scores dev batches r, r + W, ... and the sums are all-reduced
// (so no rank idles in a collective while another validates). Only rank 0 prints and writes metrics.jsonl,
// config.yaml and checkpoints; the checkpoint holds the world size and every rank's RNG, and resuming needs the
// same world size.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mqa/config/config.h"
#include "mqa/model/transformer.h"
#include "mqa/train/batch_source.h"
#include "mqa/train/distributed.h"

namespace mqa {

// A fresh pass over the validation data (one epoch of the returned source is read).
using ValidData = std::function<std::unique_ptr<BatchSource>()>;
// Extra validation metrics (e.g. greedy BLEU on dev sentences, valid_bleu.h), merged into the valid line. Called on
// every rank of a data-parallel run, after the perplexity; a hook that shares its work over the ranks reduces its
// result itself (only rank 0's is logged).
using ValidHook = std::function<std::map<std::string, double>(Transformer& model, int64_t step)>;

struct TrainerOptions {
  std::string run_dir;          // created if missing
  bool resume = false;          // continue from run_dir/checkpoint_last.pt
  std::ostream* out = &std::cout;
  bool tty = false;             // one updating progress line instead of plain log lines
  bool handle_signals = true;   // install the SIGINT/SIGTERM handlers for the run
  ValidHook valid_hook;         // optional
  // Called after every optimizer step (tests: fault injection; tools: probes).
  std::function<void(Transformer& model, int64_t step)> after_step;
  // The data-parallel context; null: one process. The trainer's batch source must already be this rank's shard.
  std::shared_ptr<Distributed> dist;
  // The SentencePiece model's bytes, embedded in every checkpoint (checkpoint.h); empty: checkpoints without one.
  std::string vocab_model;
};

enum class TrainStatus { Finished, Interrupted, Diverged };

struct TrainResult {
  TrainStatus status = TrainStatus::Finished;
  int signal = 0;                    // Interrupted: the signal (SIGINT / SIGTERM)
  std::string message;               // Diverged: what happened, at which step, and the last good checkpoint
  int64_t start_step = 0;            // the step this invocation started from (0, or the resumed checkpoint's)
  int64_t step = 0;                  // optimizer steps done at the end
  std::vector<double> losses;        // label-smoothed loss per token of each step of this invocation
  std::vector<std::pair<int64_t, double>> valid_ln_ppl;  // (step, ln PPL) of each validation
  bool converged = false;            // stopped before max_steps by train.stop_patience
  std::string last_checkpoint;       // the newest checkpoint on disk ("" if none)
  bool main_rank = true;             // false on ranks other than 0 of a data-parallel run: they report nothing
};

class Trainer {
 public:
  // `config` is the resolved run config (its YAML goes into config.yaml and every checkpoint). The model is built
  // from it with `vocab_size` and `pad_id`.
  Trainer(LoadedConfig config, int64_t vocab_size, int64_t pad_id, std::unique_ptr<BatchSource> train,
          ValidData valid, TrainerOptions options);
  ~Trainer();
  TrainResult run();
  Transformer& model();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// `mqa train`: prepares the data when needed (data.synth / raw text), opens the train and valid splits, and runs
// the trainer. The default run_dir is runs/<config file name without .yaml>. Under torchrun (RANK, WORLD_SIZE,
// ... set; distributed.h) it joins the process group, rank 0 prepares the data while the others wait, and each
// rank trains on its shard of the batches.
TrainResult train_from_config(const std::string& config_path, const LoadedConfig& config, TrainerOptions options);

}  // namespace mqa
