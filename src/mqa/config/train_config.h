// The `train:` section: optimisation, precision, logging and checkpoints.
#pragma once
#include <string>

namespace mqa {

struct TrainConfig {
  std::string optimizer = "adam";     // adam | adafactor
  double lr = 0.0;                    // peak or scale of the schedule; 0 = not set: training requires it
  std::string schedule = "inverse_sqrt";  // inverse_sqrt | rsqrt_decay | constant | cosine
  int warmup_steps = 4000;
  double final_lr_ratio = 0.1;         // cosine: the rate at max_steps, as a fraction of lr
  double beta1 = 0.9;                 // Adam only; Adafactor's momentum is adafactor_beta1
  double beta2 = 0.98;                // Adam only
  double eps = 1e-9;                  // Adam only
  double weight_decay = 0.0;          // decoupled (AdamW / Adafactor), matrices only
  // Adafactor (Shazeer & Stern 2018), as in tensor2tensor / fairseq.
  double adafactor_beta1 = 0.0;       // momentum on the update; 0 = none (tensor2tensor's default)
  double adafactor_decay_rate = 0.8;  // second-moment decay 1 - step^-rate
  double adafactor_clip_threshold = 1.0;  // update clipping d: RMS(update) is scaled down to at most d
  double adafactor_eps1 = 1e-30;      // added to grad^2
  double adafactor_eps2 = 1e-3;       // floor of the parameter scale RMS(param)
  bool adafactor_scale_parameter = true;  // step size relative to RMS(param)
  bool adafactor_relative_step = false;   // lr = min(1e-2, 1/sqrt(step)) instead of the schedule
  double label_smoothing = 0.1;
  double clip_norm = 0.0;             // 0 = no clipping
  int accumulate = 1;                 // batches per optimizer step
  // How a step computes (train_step.h). Each new path can be turned off to get the old one back, for comparisons.
  bool fused_optimizer = true;        // adam on CUDA, LibTorch >= 2: ATen's fused AdamW kernel (fused_adamw.h)
  std::string weight_cast = "per_step";  // bf16 weight copies under autocast: per_step | per_batch
  int loss_chunk = 4096;              // token rows per chunk of the loss (loss.h); 0 = all at once in fp32
  bool bf16_residual = true;          // under bf16 autocast: residual stream and layer norms in bf16 (autocast_state.h)
  bool fold_query_heads = true;       // fused attention with query heads folded (attention.h); false: enable_gqa
  bool overlap_allreduce = true;      // data-parallel: all-reduce gradient buckets during backward
  bool deferred_stats = true;         // CUDA, fused optimizer, one process: a step's loss and norm read one step late
  bool background_save = true;        // checkpoints written on a background thread (checkpoint_writer.h)
  int allreduce_bucket_bytes = 25 << 20;  // data-parallel: gradient bytes per all-reduce bucket
  int max_steps = 100000;
  int max_epochs = 0;                 // 0 = until max_steps
  int seed = 1;
  std::string device = "auto";        // auto | cpu | cuda
  std::string precision = "auto";     // auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
  int log_every = 100;
  int valid_every = 1000;
  int valid_bleu_sentences = 0;       // greedy BLEU on this many dev sentences at each validation; 0 = off
  // Stop before max_steps once dev ln(PPL) has not fallen below its best by more than stop_min_delta for
  // stop_patience validations in a row (0 = never: train max_steps).
  int stop_patience = 0;
  double stop_min_delta = 0.0;
  int save_every = 1000;
  int keep_checkpoints = 5;
  int threads = 0;                    // CPU threads for LibTorch; 0 = its default
};

}  // namespace mqa
