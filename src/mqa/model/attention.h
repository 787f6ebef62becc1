// One attention module for every variant of the paper and beyond.
//
//   heads h, kv_heads g:  g = h multi-head; g = 1 multi-query (Shazeer 2019); 1 < g < h grouped-query.
//   d_k, d_v:             per-head query/key and value widths (may differ).
//   window w > 0:         local attention, a query at position t sees keys t-w+1 .. t (causal layers only).
//
// Projections: Q d_model -> h*d_k, K d_model -> g*d_k, V d_model -> g*d_v, O h*d_v -> d_model.
// Query head i reads key/value head i / (h/g). Keys and values are never repeated per query head: the query heads
// that share a key/value head are folded into the row dimension of one matrix product, so with g = 1 the product is
// the paper's q[b,h,k] . K[b,m,k].
#pragma once
#include <torch/torch.h>


namespace mqa {

struct AttentionOptions {
  int64_t d_model = 512, heads = 8, kv_heads = 8, d_k = 64, d_v = 64;
  bool causal = false;   // self-attention of a decoder
  int64_t window = 0;    // local attention (causal only); 0 = unlimited
  double dropout = 0.0;  // on attention weights
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& options);

  // Whole sequences. x [B, T, d_model] gives the queries; memory [B, S, d_model] the keys and values (memory = x
  // for self-attention). key_padding [B, S] bool (true = padded) or undefined. Returns [B, T, d_model].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory, const torch::Tensor& key_padding = {});

  // Keys and values of `memory` [B, S, d_model]: K [B, g, S, d_k], V [B, g, S, d_v].
  std::pair<torch::Tensor, torch::Tensor> project_kv(const torch::Tensor& memory);

  const AttentionOptions& options() const { return options_; }
  // Whether whole-sequence calls may use LibTorch 2's fused scaled_dot_product_attention (CUDA only; on by
  // default there). The plain path is the reference and the only one on LibTorch 1.13.
  static void set_use_sdpa(bool on);
  static bool use_sdpa();
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  AttentionOptions options_;
};
TORCH_MODULE(Attention);

// The attention product shared by every path. q [Bk*r, h, Tq, d_k] (r rows of queries per key/value batch row:
// beams sharing one source's cross-attention keys), k [Bk, g, S, d_k], v [Bk, g, S, d_v]; `allowed` is a bool
// mask broadcastable to [Bk, Tq, S] (true = may attend) or undefined. Returns [Bk*r, h, Tq, d_v].
torch::Tensor grouped_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& allowed, double dropout, bool training);

}  // namespace mqa
