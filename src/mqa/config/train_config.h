// The `train:` section: optimisation, precision, logging and checkpoints.
#pragma once
#include <string>

namespace mqa {

struct TrainConfig {
  std::string optimizer = "adam";     // adam | adafactor
  double lr = 1.0;                    // peak (adam) or scale (adafactor) of the schedule
  std::string schedule = "inverse_sqrt";  // inverse_sqrt | rsqrt_decay | constant
  int warmup_steps = 4000;
  double beta1 = 0.9;
  double beta2 = 0.98;
  double eps = 1e-9;
  double weight_decay = 0.0;
  double label_smoothing = 0.1;
  double clip_norm = 0.0;             // 0 = no clipping
  int accumulate = 1;                 // batches per optimizer step
  int max_steps = 100000;
  int max_epochs = 0;                 // 0 = until max_steps
  int seed = 1;
  std::string device = "auto";        // auto | cpu | cuda
  std::string precision = "auto";     // auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
  int log_every = 100;
  int valid_every = 1000;
  int valid_bleu_sentences = 0;       // greedy BLEU on this many dev sentences at each validation; 0 = off
  int save_every = 1000;
  int keep_checkpoints = 5;
  int threads = 0;                    // CPU threads for LibTorch; 0 = its default
};

}  // namespace mqa
