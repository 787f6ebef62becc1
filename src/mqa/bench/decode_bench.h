// The paper's decoding benchmark (Table 2): B sources of S tokens, T generated tokens each (fixed length: no
// end-of-sentence stop), greedy (argmax fed back) or beam search (top beams over beams x V accumulated
// log-probabilities, caches reordered by survivor rows, cross-attention K/V shared by a source's beams). Times the
// encoder and the decoder separately; the decode step is one function (decode_one_token), replayed as one
// captured CUDA graph per bucket of positions where the build and device allow it, called eagerly elsewhere.
#pragma once
#include <torch/torch.h>

#include <string>

#include "mqa/bench/timer.h"
#include "mqa/model/transformer.h"

namespace mqa::bench {

struct DecodeBenchOptions {
  int64_t target_len = 128;  // T
  int64_t beams = 1;         // 1 = greedy
  int64_t warmup = 1, repeats = 3;
  int64_t bucket = 16;       // positions per captured graph (DecodeState::bucket)
  bool cuda_graph = true;    // used only where graphs_supported()
  int64_t bos = 2;           // first decoder input
  // If set: after timing, one more generation under the kernel profiler, its trace written here (kernel_profile.h).
  std::string profile_trace;
};

struct DecodeBenchResult {
  Stats encoder_ms;   // encoder + cross-attention K/V of the decoder, for the whole batch
  Stats decoder_ms;   // T decode steps for the whole batch
  int64_t graphs = 0; // captured graphs (0 = eager)
  torch::Tensor tokens;  // [B * beams, T] long (CPU): the output of the last timed repetition, row r of source r/beams
  torch::Tensor scores;  // beams > 1: [B, beams] float (CPU) accumulated log-probabilities, best first
  // With graphs: the fraction of output tokens equal to an eager run's (1 = the graphs compute what the eager step
  // does); -1 when not checked.
  double graph_eager_agreement = -1;
  // Why graphs were asked for but not used (capture failed; the run then times the eager step), else empty.
  std::string graph_error;
};

// Runs the benchmark on `model` (already on its device, in its compute precision) over src [B, S] long (same
// device). Puts the model in eval mode.
DecodeBenchResult run_decode_bench(Transformer& model, const torch::Tensor& src, const DecodeBenchOptions& options);

}  // namespace mqa::bench
