#include "mqa/model/attention.h"

#include <torch/version.h>

#include <cmath>

namespace mqa {

namespace {
bool sdpa_enabled = true;
// Masked scores get this instead of -inf, so that a row with nothing to attend to (an empty source) yields a
// uniform average rather than NaN. Representable in bf16 and fp16-free code paths.
constexpr double kMaskedScore = -1e30;
}  // namespace

void AttentionImpl::set_use_sdpa(bool on) { sdpa_enabled = on; }
bool AttentionImpl::use_sdpa() { return sdpa_enabled; }

torch::Tensor grouped_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& allowed, double dropout, bool training) {
  const int64_t bq = q.size(0), h = q.size(1), tq = q.size(2), d_k = q.size(3);
  const int64_t bk = k.size(0), g = k.size(1), s = k.size(2), d_v = v.size(3);
  const int64_t r = bq / bk, group = h / g;
  TORCH_CHECK(bq == bk * r && h == g * group, "grouped_attention: shapes do not fold (q ", q.sizes(), ", k ",
              k.sizes(), ")");
  // Fold the r query rows and the h/g query heads that share a key/value head into the row dimension of one
  // matrix product per key/value head: q [Bk*r, h, Tq, dk] -> [Bk, g, r*group*Tq, dk]. K and V are read as they
  // are; nothing is repeated per query head.
  torch::Tensor qf;
  if (r == 1) {
    qf = q.reshape({bk, g, group * tq, d_k});  // a view when q is contiguous: heads of a group are adjacent
  } else {
    qf = q.reshape({bk, r, g, group, tq, d_k}).permute({0, 2, 1, 3, 4, 5}).reshape({bk, g, r * group * tq, d_k});
  }
  auto scores = torch::matmul(qf, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(d_k)));
  // scores [Bk, g, r*group*Tq, S]
  if (allowed.defined()) {
    // allowed broadcasts to [Bk, Tq, S]; view scores as [Bk, g, r, group, Tq, S] to apply it.
    auto a = allowed.dim() == 2 ? allowed.unsqueeze(0) : allowed;  // [Bk|1, Tq|1, S]
    a = a.reshape({a.size(0), 1, 1, 1, a.size(1), a.size(2)});
    scores = scores.view({bk, g, r, group, tq, s}).masked_fill(a.logical_not(), kMaskedScore).view({bk, g, -1, s});
  }
  // Softmax in fp32 whatever the compute precision: bf16 sums of many small terms lose the tail.
  auto probs = torch::softmax(scores, -1, torch::kFloat32).to(v.scalar_type());
  if (training && dropout > 0) probs = torch::dropout(probs, dropout, true);
  auto out = torch::matmul(probs, v);  // [Bk, g, r*group*Tq, dv]
  if (r == 1) return out.reshape({bk, h, tq, d_v});
  return out.reshape({bk, g, r, group, tq, d_v}).permute({0, 2, 1, 3, 4, 5}).reshape({bq, h, tq, d_v});
}

AttentionImpl::AttentionImpl(const AttentionOptions& o) : options_(o) {
  TORCH_CHECK(o.kv_heads >= 1 && o.heads % o.kv_heads == 0, "Attention: kv_heads (", o.kv_heads,
              ") must divide heads (", o.heads, ")");
  TORCH_CHECK(o.window == 0 || o.causal, "Attention: a window needs causal attention");
  // No biases, as in tensor2tensor's attention (the paper's code base).
  q_proj = register_module("q_proj", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.heads * o.d_k).bias(false)));
  k_proj = register_module("k_proj", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.kv_heads * o.d_k).bias(false)));
  v_proj = register_module("v_proj", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.kv_heads * o.d_v).bias(false)));
  o_proj = register_module("o_proj", torch::nn::Linear(torch::nn::LinearOptions(o.heads * o.d_v, o.d_model).bias(false)));
}

std::pair<torch::Tensor, torch::Tensor> AttentionImpl::project_kv(const torch::Tensor& memory) {
  const int64_t b = memory.size(0), s = memory.size(1);
  auto k = k_proj(memory).view({b, s, options_.kv_heads, options_.d_k}).transpose(1, 2);  // [B, g, S, dk]
  auto v = v_proj(memory).view({b, s, options_.kv_heads, options_.d_v}).transpose(1, 2);  // [B, g, S, dv]
  return {k.contiguous(), v.contiguous()};
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& memory,
                                     const torch::Tensor& key_padding) {
  const auto& o = options_;
  const int64_t b = x.size(0), t = x.size(1), s = memory.size(1);
  auto q = q_proj(x).view({b, t, o.heads, o.d_k}).transpose(1, 2).contiguous();  // [B, h, T, dk]
  auto [k, v] = project_kv(memory);                                               // [B, g, S, d]

  // allowed [B|1, T|1, S]: padding of the keys, causality and the local window.
  torch::Tensor allowed;
  if (key_padding.defined()) allowed = key_padding.logical_not().unsqueeze(1);  // [B, 1, S]
  if (o.causal) {
    auto qpos = torch::arange(t, x.options().dtype(torch::kLong)).unsqueeze(1);  // [T, 1]
    auto kpos = torch::arange(s, x.options().dtype(torch::kLong)).unsqueeze(0);  // [1, S]
    auto causal = kpos.le(qpos);
    if (o.window > 0) causal = causal.logical_and(kpos.gt(qpos - o.window));
    allowed = allowed.defined() ? allowed.logical_and(causal.unsqueeze(0)) : causal.unsqueeze(0);
  }

  torch::Tensor out;  // [B, h, T, dv]
#if TORCH_VERSION_MAJOR >= 2
  if (sdpa_enabled && x.is_cuda()) {
    // Fused kernels (flash / memory-efficient); enable_gqa lets them read g key/value heads for h query heads.
    const bool pure_causal = o.causal && o.window == 0 && !key_padding.defined() && t == s;
    std::optional<torch::Tensor> mask;  // an undefined tensor would count as a mask: leave the optional empty
    if (!pure_causal && allowed.defined()) mask = allowed.unsqueeze(1);  // [B|1, 1, T|1, S]
    out = at::scaled_dot_product_attention(q, k, v, mask, is_training() ? o.dropout : 0.0, pure_causal,
                                           std::nullopt, /*enable_gqa=*/o.kv_heads != o.heads);
  }
#endif
  if (!out.defined()) out = grouped_attention(q, k, v, allowed, o.dropout, is_training());
  return o_proj(out.transpose(1, 2).reshape({b, t, o.heads * o.d_v}));
}

}  // namespace mqa
