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

#include <map>
#include <string>

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
  // Whether SDPA may pick cuDNN's attention (LibTorch >= 2.3 on CUDA; a no-op elsewhere). cuDNN builds an execution
  // plan for every new shape (batch rows, lengths) before its first call; batches of variable shape (training on
  // length-bucketed batches, translate's batches) pay that again and again, where the flash and memory-efficient
  // kernels take any shape as it comes (measured, H200, Table 1's real baseline: 120k training tokens/s with cuDNN,
  // 341k without; experiments/table1/real/README.md). Off in `mqa` unless MQA_SDPA_CUDNN=1 (apply_sdpa_cudnn_env).
  static void set_sdpa_cudnn(bool on);
  // MQA_SDPA_CUDNN=0 or unset: no cuDNN attention; 1: LibTorch's own choice; any other value is an error naming it.
  static void apply_sdpa_cudnn_env();
  // How whole-sequence calls use SDPA on CUDA (train.fold_query_heads; on by default). On: keys and values go to
  // the kernel as they are, g heads, never repeated per query head -- multi-head as it is (is_causal for plain
  // causal attention, else a mask); grouped and multi-query causal self-attention through SDPA's grouped-query
  // kernel without a mask when a fused backend takes it; otherwise the query heads of a group folded into the
  // query length (fold_query_heads below) with a key-padding, block-causal or block-local mask, which the fused
  // kernels accept where enable_gqa with a mask would fall back to the math kernel. The input is cast to the
  // autocast dtype once for the Q, K and V projections, and Q, K, V and the output stay in the projections'
  // [B, T, heads, d] layout (no copies to [B, heads, T, d]). Off: the old path, SDPA with enable_gqa and an
  // explicit mask on contiguous [B, heads, T, d] copies, and a cast per projection.
  static void set_fold_query_heads_enabled(bool on);
  static bool fold_query_heads_enabled();
  // On that fused path, the projections that read one input as one GEMM: Q, K and V of self-attention in one,
  // K and V of cross-attention in one, on the concatenation of their (autocast-cast) weights, the outputs split as
  // views. The backward then runs one GEMM for the input's gradient where three ran and autograd added their
  // results, and multi-query's narrow K and V products (g * d_k = 128 columns) ride in a wide one.
  // MQA_FUSED_PROJECTIONS=0 turns it off for a process (the A/B of one build); unset or 1: on; else an error.
  static void set_fused_projections_enabled(bool on);
  static bool fused_projections_requested();  // what MQA_FUSED_PROJECTIONS asks for (checked by `mqa` at start)
  // While on, every whole-sequence call adds "what it was: which SDPA backend would run it" to a count
  // (at::_fused_sdp_choice on CUDA with LibTorch 2; "plain" where the reference path runs). For reports
  // (`mqa bench train --attention-kernels`); off by default, as asking costs host time.
  static void set_record_kernels(bool on);
  static std::map<std::string, int64_t> recorded_kernels();  // and clears them
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  // K [B, g, S, d_k] and V [B, g, S, d_v] as views of the projections' [B, S, g, d] outputs (not contiguous).
  std::pair<torch::Tensor, torch::Tensor> project_kv_views(const torch::Tensor& memory);
  // Q [B, T, h, d_k], K [B, g, S, d_k] and V [B, g, S, d_v] views for the fused path, from xin and min (x and
  // memory cast for autocast), by one GEMM per distinct input when fused projections are on.
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> project_qkv_views(const torch::Tensor& xin,
                                                                           const torch::Tensor& min,
                                                                           bool self_attention);
  AttentionOptions options_;
};
TORCH_MODULE(Attention);

// The attention product shared by every path. q [Bk*r, h, Tq, d_k] (r rows of queries per key/value batch row:
// beams sharing one source's cross-attention keys), k [Bk, g, S, d_k], v [Bk, g, S, d_v]; `allowed` is a bool
// mask broadcastable to [Bk, Tq, S] (true = may attend) or undefined. Returns [Bk*r, h, Tq, d_v].
torch::Tensor grouped_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& allowed, double dropout, bool training);

// Whole-sequence attention as one SDPA call over g heads: the group = h/g query heads that share a key/value head
// folded into the query length. q [B, T, h, d_k] (the Q projection's layout) -> [B, g, T*group, d_k], row
// t*group + j being head j of the group at position t (a view for multi-query, g = 1, when q is contiguous).
// `allowed` (broadcastable to [B, T, S], true = may attend, or undefined) becomes the mask of the folded rows,
// [B|1, 1, T*group, S]: each position's row repeated once per query head of the group (block-causal,
// block-local); a mask without a query dimension (key padding [B, 1, S]) broadcasts over all rows as
// [B, 1, 1, S], unrepeated.
struct FoldedQueries {
  torch::Tensor q;        // [B, g, T*group, d_k]
  torch::Tensor allowed;  // bool [B|1, 1, T*group|1, S], or undefined
};
FoldedQueries fold_query_heads(const torch::Tensor& q, int64_t kv_heads, const torch::Tensor& allowed);
// The attention output of folded rows back per position and query head: [B, g, T*group, d_v] -> [B, T, h, d_v].
torch::Tensor unfold_query_heads(const torch::Tensor& out, int64_t heads);

}  // namespace mqa
