// The paper's decoding benchmark (Table 2): B sources of S tokens, T output tokens each. It times exactly what
// `mqa translate` runs (decode/engine.h with greedy_search.h or beam_search.h), in fixed-length mode: eos is not
// allowed before step T-1 and forced there, so every sentence takes T decoder steps (the last one producing eos),
// as in a timing benchmark. The encoder (with every layer's cross-attention keys/values) and the decoder steps are
// timed separately.
#pragma once
#include <torch/torch.h>

#include <string>

#include "mqa/decode/hypothesis.h"
#include "mqa/model/transformer.h"
#include "mqa/util/timer.h"

namespace mqa::bench {

struct DecodeBenchOptions {
  int64_t target_len = 128;  // T
  int64_t beams = 1;         // 1 = greedy
  int64_t warmup = 1, repeats = 3;
  bool cuda_graph = true;    // replay the step as a captured CUDA graph (kernel path on CUDA)
  int64_t check_every = 16;  // steps between the host's checks whether every sentence is done
  // With graphs: also decode once eagerly and compare the tokens (costs one more generation).
  bool check_graph = true;
  // If set: after timing, one more generation under the kernel profiler, its trace written here (kernel_profile.h).
  std::string profile_trace;
};

struct DecodeBenchResult {
  Stats encoder_ms;   // encoder + cross-attention K/V of the decoder, for the whole batch
  Stats decoder_ms;   // T decode steps for the whole batch
  bool graph = false;  // whether the steps were replayed from a captured CUDA graph
  bool kernels = false;  // whether the CUDA kernels ran (else LibTorch ops)
  std::vector<NBest> outputs;  // of the last timed repetition: per source its beams (greedy: one), best first
  // With graphs: the fraction of output tokens equal to an eager run's (1 = the graph computes what the eager step
  // does); -1 when not checked.
  double graph_eager_agreement = -1;
  // Why graphs were asked for but not used (capture failed; the run then times the eager step), else empty.
  std::string graph_error;
};

// Runs the benchmark on `model` (already on its device, in its compute precision: fp32 or bf16 parameters) over
// src [B, S] long (same device).
DecodeBenchResult run_decode_bench(Transformer& model, const torch::Tensor& src, const DecodeBenchOptions& options);

}  // namespace mqa::bench
