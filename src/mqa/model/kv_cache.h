// The self-attention key/value cache of one layer, gpt-fast style: preallocated [rows, g, max_len, d] buffers
// written in place one position at a time, never concatenated.
#pragma once
#include <torch/torch.h>

namespace mqa {

struct KVCache {
  torch::Tensor k;  // [N, g, max_len, d_k]
  torch::Tensor v;  // [N, g, max_len, d_v]

  KVCache() = default;
  KVCache(int64_t rows, int64_t kv_heads, int64_t max_len, int64_t d_k, int64_t d_v, const torch::TensorOptions& opts);
  // Writes one position: k_new [N, g, 1, d_k], v_new [N, g, 1, d_v] at index `pos` (a long tensor of shape [1],
  // so that a captured CUDA graph can replay the write at a moving position).
  void write(const torch::Tensor& pos, const torch::Tensor& k_new, const torch::Tensor& v_new);
  // Keeps rows `rows` ([N'] long) in that order: beam search reordering and dropping finished sentences.
  void select_rows(const torch::Tensor& rows);
  // The same for a permutation with repeats (rows [N], N = current rows) of positions [lo, hi) only, in place: the
  // buffers keep their storage, so a captured CUDA graph can replay it (beam search inside a graph).
  void select_rows_into(const torch::Tensor& rows, int64_t lo, int64_t hi);
  int64_t max_len() const { return k.size(2); }
};

}  // namespace mqa
