// The `bench:` section: timed decoding and training (the paper's Table 2 method).
#pragma once
#include <string>

namespace mqa {

struct BenchConfig {
  int batch_size = 128;               // sentences decoded together
  int source_len = 128;
  int target_len = 128;               // generated tokens per sentence
  int beam_size = 4;
  int warmup = 2;                     // untimed repetitions
  int repeats = 5;                    // timed repetitions; median and spread reported
  bool cuda_graph = true;             // capture the decode step as a CUDA graph where LibTorch offers it
  int check_every = 16;               // decode steps between the host's checks whether every sentence is done
  bool check_graph = true;            // decode once more without the graph and compare the tokens
  int train_batch_size = 0;           // sentences per training step of `mqa bench train`; 0 = batch_size
  int seed = 1;                       // random weights and tokens
  std::string precision = "auto";     // auto (bf16 on CUDA) | fp32 | bf16
  std::string device = "auto";
};

}  // namespace mqa
