// Language-model continuation of prompts on the decode engine: greedy (greedy_search.h's lm_greedy) or sampled with
// temperature, top-k and top-p (nucleus) filtering. The prompts are prefilled in one forward pass; then one token a
// step, chosen on the device.
//
// Conventions: each prompt is fed token by token after `start_id` (eos by default: an lm stream is
// `s1 eos s2 eos ...` read as if it began with eos, data/dataset.h, so eos is what precedes a sentence); the
// continuation starts after
// the prompt's last token and ends at eos (not included in `tokens`), after max_new_tokens tokens, or when the
// model's max_positions are used up. pad and bos are never generated. Prompts of different lengths share a batch;
// a row that has ended idles until every row has.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "mqa/config/decode_config.h"
#include "mqa/model/transformer.h"

namespace mqa {

struct GenerateOptions {
  int64_t max_new_tokens = 100;
  double temperature = 1.0;  // logits / temperature before filtering
  int64_t top_k = 0;         // keep the k most likely tokens; 0 = all
  double top_p = 1.0;        // keep the smallest set of most likely tokens whose probability reaches top_p; 1 = all
  uint64_t seed = 1;         // sampling draws come from a host std::mt19937_64 seeded with this (device-independent)
  int64_t start_id = 3;      // fed before each prompt; -1 = none (the prompt must then not be empty)
  int64_t bos_id = 2, eos_id = 3;
  c10::ScalarType precision = c10::ScalarType::Float;  // of the decoder (see SearchOptions::precision)
  // Streaming: called with (prompt index, token) for every new token as soon as it is chosen (eos excluded), in
  // the order of Continuation::tokens; optional. The loop then checks in with the host after every step.
  std::function<void(int64_t row, int64_t token)> on_token;
};

struct Continuation {
  std::vector<int64_t> tokens;  // generated tokens, without the prompt and without eos
  bool ended_with_eos = false;
  double logprob = 0.0;         // the model's (untempered, unfiltered) log-probability of tokens (+ eos when ended)
};

// Picks the next token of every row on the device from log-probabilities lp [N, V] (pad/bos already -inf) at step
// t [N] long (0 = the first new token). Returns [N] long. No host synchronisation (it runs inside the loop's graph).
using TokenChooser = std::function<torch::Tensor(const torch::Tensor& lp, const torch::Tensor& t)>;

// The loop every LM continuation shares: prefills the prompts, asks `choose` for each new token (null: greedy).
std::vector<Continuation> continue_prompts(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& options, const TokenChooser& choose);

// Samples continuations with options.temperature / top_k / top_p. top_k = 1 gives greedy's output.
std::vector<Continuation> sample(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                 const GenerateOptions& options);

// The sampling filter on its own: logits [N, V] -> probabilities [N, V] after temperature, top-k and top-p
// (tokens outside the kept set have probability 0; each row sums to 1).
torch::Tensor filtered_probabilities(const torch::Tensor& logits, double temperature, int64_t top_k, double top_p);

// Sampling settings of a `decode:` config section.
GenerateOptions generate_options(const DecodeConfig& config);

}  // namespace mqa
