// Pieces shared by the searches in decode/: length limits and the next-token log-probabilities. Internal to decode/.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "mqa/decode/hypothesis.h"
#include "mqa/model/transformer.h"

namespace mqa::detail {

inline constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Non-pad tokens of each row of src [B, S] (right padding), on the host.
inline std::vector<int64_t> source_lengths(const torch::Tensor& src, int64_t pad_id) {
  torch::Tensor lengths = src.ne(pad_id).sum(1).to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<int64_t>(lengths.data_ptr<int64_t>(), lengths.data_ptr<int64_t>() + lengths.numel());
}

// The step at which eos is forced for a source of `src_len` tokens: floor(a * S + b) tokens may come before eos,
// and the whole output (bos position included) must fit in max_positions positions.
inline int64_t eos_step(int64_t src_len, const SearchOptions& o, int64_t max_positions) {
  const auto limit = static_cast<int64_t>(std::floor(o.max_len_a * static_cast<double>(src_len))) + o.max_len_b;
  return std::max<int64_t>(0, std::min<int64_t>(limit, max_positions - 1));
}

// Per source row of src [B, S]: the step at which eos is forced (eos_step). Sets `steps` to the number of decode
// steps a source of S tokens (the padded width) needs: the cache length to allocate, the same for every batch of
// that width, so that batches of one width share buffers and a captured graph.
inline std::vector<int64_t> forced_eos_steps(const torch::Tensor& src, const SearchOptions& o, int64_t pad_id,
                                             int64_t max_positions, int64_t& steps) {
  const auto src_len = source_lengths(src, pad_id);
  std::vector<int64_t> eos_at(src_len.size());
  for (size_t b = 0; b < src_len.size(); ++b) eos_at[b] = eos_step(src_len[b], o, max_positions);
  steps = eos_step(src.size(1), o, max_positions) + 1;
  return eos_at;
}

// Log-probabilities of the next token, logits [N, V] -> [N, V] float32. The model's own log-softmax over the whole
// vocabulary; afterwards pad and bos are made impossible, and in rows where `forced_eos` [N] bool is true every
// token but eos.
inline torch::Tensor next_token_logprobs(const torch::Tensor& logits, const torch::Tensor& forced_eos, int64_t pad_id,
                                         int64_t bos_id, int64_t eos_id) {
  torch::Tensor lp = torch::log_softmax(logits.to(torch::kFloat), -1);  // [N, V]
  const int64_t V = lp.size(1);
  auto ninf = -std::numeric_limits<float>::infinity();
  lp.index_fill_(1, torch::tensor({pad_id, bos_id}, torch::TensorOptions().dtype(torch::kLong).device(lp.device())),
                 ninf);
  torch::Tensor not_eos = torch::arange(V, torch::TensorOptions().dtype(torch::kLong).device(lp.device())).ne(eos_id);
  return lp.masked_fill(forced_eos.unsqueeze(1).logical_and(not_eos.unsqueeze(0)), ninf);
}

// A seq2seq model and src [B, S] int64, or an error naming the search.
inline void check_source(Transformer& model, const torch::Tensor& src, const char* search) {
  if (!model->is_seq2seq())
    throw std::invalid_argument(std::string(search) + ": the model is a language model, not seq2seq");
  if (src.dim() != 2 || src.scalar_type() != torch::kLong)
    throw std::invalid_argument(std::string(search) + ": expected src [B, S] int64, got " +
                                std::to_string(src.dim()) + "-d " + std::string(c10::toString(src.scalar_type())));
}

inline torch::Tensor long_tensor(const std::vector<int64_t>& v, const torch::Device& device) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kLong)).to(device);
}

// Search runs with dropout off: puts the model in eval mode and restores its previous mode when it goes away.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(torch::nn::Module& model) : model_(model), was_training_(model.is_training()) {
    model_.eval();
  }
  ~EvalModeGuard() { model_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  torch::nn::Module& model_;
  bool was_training_;
};

inline torch::Device device_of(const torch::nn::Module& module) {
  auto params = module.parameters();
  if (params.empty()) return torch::Device(torch::kCPU);
  return params.front().device();
}

}  // namespace mqa::detail
