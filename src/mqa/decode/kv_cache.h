// The self-attention key/value cache of one decoder layer, gpt-fast style: preallocated [rows, g, max_len, d] buffers
// written in place one position at a time, never concatenated.
//
// Beam search moves hypotheses between rows. On the kernel path (decode_ops.h) no cache row is copied: the batch's
// row table (DecodeBatch::table, [rows, max_len] int32, shared by every layer) names the physical row that holds
// position p of row r, the attention kernel reads through it, and a reorder gathers only the table (4 bytes a
// position instead of 2 x g x (d_k + d_v) x layers). On the LibTorch path the rows themselves are gathered (the
// reference, and CPU's only path).
#pragma once
#include <torch/torch.h>

namespace mqa {

struct KVCache {
  torch::Tensor k;  // [N, g, max_len, d_k]
  torch::Tensor v;  // [N, g, max_len, d_v]

  KVCache() = default;
  KVCache(int64_t rows, int64_t kv_heads, int64_t max_len, int64_t d_k, int64_t d_v, const torch::TensorOptions& opts)
      : k(torch::zeros({rows, kv_heads, max_len, d_k}, opts)), v(torch::zeros({rows, kv_heads, max_len, d_v}, opts)) {}
  int64_t rows() const { return k.size(0); }
  int64_t max_len() const { return k.size(2); }
};

}  // namespace mqa
