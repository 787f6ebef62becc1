#include "mqa/model/attention.h"

#include "mqa/util/env_switch.h"

#include <torch/version.h>

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <mutex>

#include <fmt/format.h>

#include "mqa/util/autocast_state.h"

namespace mqa {

namespace {
bool sdpa_enabled = true;
bool fold_enabled = true;
bool record_enabled = false;
std::mutex recorded_mutex;
std::map<std::string, int64_t> recorded;
// Masked scores get this instead of -inf, so that a row with nothing to attend to (an empty source) yields a
// uniform average rather than NaN. Representable in bf16 and fp16-free code paths.
constexpr double kMaskedScore = -1e30;

KernelSwitch& fused_projections() {  // MQA_FUSED_PROJECTIONS, or set_fused_projections_enabled in tests
  static KernelSwitch s("MQA_FUSED_PROJECTIONS", "one GEMM for the attention projections that read one input");
  return s;
}

void record(const std::string& what) {
  std::lock_guard<std::mutex> lock(recorded_mutex);
  ++recorded[what];
}

#if TORCH_VERSION_MAJOR >= 2
// at::SDPBackend's values, as at::_fused_sdp_choice returns them.
std::string sdp_backend_name(int64_t choice) {
  switch (choice) {
    case 0: return "math";
    case 1: return "flash";
    case 2: return "efficient";
    case 3: return "cudnn";
    case 4: return "overrideable";
    default: return "none";
  }
}
bool is_fused_backend(int64_t choice) { return choice >= 1 && choice <= 3; }

// One SDPA call; when recording, what it was and the backend SDPA picks for it.
torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                   const std::optional<torch::Tensor>& mask, double dropout, bool is_causal, bool gqa,
                   const std::string& route, const std::string& what) {
  if (record_enabled)
    record(fmt::format("{}: {} [{}]", what,
                       sdp_backend_name(at::_fused_sdp_choice(q, k, v, mask, dropout, is_causal, std::nullopt, gqa)),
                       route));
  return at::scaled_dot_product_attention(q, k, v, mask, dropout, is_causal, std::nullopt, gqa);
}
#endif
}  // namespace

void AttentionImpl::set_use_sdpa(bool on) { sdpa_enabled = on; }
bool AttentionImpl::use_sdpa() { return sdpa_enabled; }
void AttentionImpl::set_sdpa_cudnn(bool on) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  at::globalContext().setSDPUseCuDNN(on);
#else
  (void)on;  // no cuDNN attention in this LibTorch
#endif
}
void AttentionImpl::apply_sdpa_cudnn_env() {
  set_sdpa_cudnn(env_switch("MQA_SDPA_CUDNN", false, "1: SDPA may pick cuDNN's attention; 0 or unset: it may not"));
}
void AttentionImpl::set_fold_query_heads_enabled(bool on) { fold_enabled = on; }
bool AttentionImpl::fold_query_heads_enabled() { return fold_enabled; }
void AttentionImpl::set_fused_projections_enabled(bool on) { fused_projections().set(on); }
bool AttentionImpl::fused_projections_requested() { return fused_projections().requested(); }
void AttentionImpl::set_record_kernels(bool on) { record_enabled = on; }
std::map<std::string, int64_t> AttentionImpl::recorded_kernels() {
  std::lock_guard<std::mutex> lock(recorded_mutex);
  auto out = std::move(recorded);
  recorded.clear();
  return out;
}

FoldedQueries fold_query_heads(const torch::Tensor& q, int64_t kv_heads, const torch::Tensor& allowed) {
  const int64_t b = q.size(0), t = q.size(1), h = q.size(2), d_k = q.size(3);
  TORCH_CHECK(kv_heads >= 1 && h % kv_heads == 0, "fold_query_heads: ", kv_heads, " key/value heads for ", h,
              " query heads");
  const int64_t group = h / kv_heads;
  FoldedQueries f;
  // [B, T, g, group, dk] -> [B, g, T, group, dk] -> [B, g, T*group, dk]: row t*group + j is head j at position t.
  f.q = q.reshape({b, t, kv_heads, group, d_k}).permute({0, 2, 1, 3, 4}).reshape({b, kv_heads, t * group, d_k});
  if (!allowed.defined()) return f;
  auto a = allowed.dim() == 2 ? allowed.unsqueeze(0) : allowed;  // [B|1, T|1, S]
  if (a.size(1) == 1 || group == 1) {
    f.allowed = a.unsqueeze(1);  // [B|1, 1, T|1, S]
  } else {
    // [B|1, T, S] -> [B|1, T, group, S] -> [B|1, 1, T*group, S]: each position's row once per head of the group.
    f.allowed = a.unsqueeze(2).expand({a.size(0), t, group, a.size(2)}).reshape({a.size(0), 1, t * group, a.size(2)});
  }
  return f;
}

torch::Tensor unfold_query_heads(const torch::Tensor& out, int64_t heads) {
  const int64_t b = out.size(0), g = out.size(1), rows = out.size(2), d_v = out.size(3);
  TORCH_CHECK(heads % g == 0 && rows % (heads / g) == 0, "unfold_query_heads: ", out.sizes(), " for ", heads,
              " query heads");
  const int64_t group = heads / g, t = rows / group;
  // [B, g, T*group, dv] -> [B, g, T, group, dv] -> [B, T, g, group, dv] -> [B, T, h, dv]
  return out.reshape({b, g, t, group, d_v}).permute({0, 2, 1, 3, 4}).reshape({b, t, heads, d_v});
}

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
  auto [k, v] = project_kv_views(memory);
  return {k.contiguous(), v.contiguous()};
}

std::pair<torch::Tensor, torch::Tensor> AttentionImpl::project_kv_views(const torch::Tensor& memory) {
  const int64_t b = memory.size(0), s = memory.size(1);
  // autocast_linear: under autocast the weights come from autocast's cache (one bf16 copy per region or step).
  const auto& o = options_;
  auto k = autocast_linear(k_proj, memory).view({b, s, o.kv_heads, o.d_k}).transpose(1, 2);  // [B, g, S, dk]
  auto v = autocast_linear(v_proj, memory).view({b, s, o.kv_heads, o.d_v}).transpose(1, 2);  // [B, g, S, dv]
  return {k, v};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> AttentionImpl::project_qkv_views(
    const torch::Tensor& xin, const torch::Tensor& min, bool self_attention) {
  const auto& o = options_;
  const int64_t b = xin.size(0), t = xin.size(1), s = min.size(1);
  if (!fused_projections().on()) {
    auto [k, v] = project_kv_views(min);
    return {autocast_linear(q_proj, xin).view({b, t, o.heads, o.d_k}), k, v};
  }
  // The weights' rows concatenated ([out, in] each): one [B, T, sum of outs] product, split into column views.
  // The concatenation is a copy of the cast weights per call (1-3 MB at d_model 1024); its gradient is views.
  const auto kw = autocast_weight(k_proj->weight), vw = autocast_weight(v_proj->weight);
  torch::Tensor q, k, v;  // [B, T|S, heads * d]
  if (self_attention) {
    auto parts = torch::linear(xin, torch::cat({autocast_weight(q_proj->weight), kw, vw}))
                     .split_with_sizes({o.heads * o.d_k, o.kv_heads * o.d_k, o.kv_heads * o.d_v}, -1);
    q = parts[0], k = parts[1], v = parts[2];
  } else {
    q = autocast_linear(q_proj, xin);
    auto parts =
        torch::linear(min, torch::cat({kw, vw})).split_with_sizes({o.kv_heads * o.d_k, o.kv_heads * o.d_v}, -1);
    k = parts[0], v = parts[1];
  }
  return {q.view({b, t, o.heads, o.d_k}), k.view({b, s, o.kv_heads, o.d_k}).transpose(1, 2),
          v.view({b, s, o.kv_heads, o.d_v}).transpose(1, 2)};
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& memory,
                                     const torch::Tensor& key_padding) {
  const auto& o = options_;
  const int64_t b = x.size(0), t = x.size(1), s = memory.size(1);
  const bool self_attention = x.is_same(memory);

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

  // What this call is, for recorded_kernels().
  auto what = [&] {
    std::string kind = o.causal ? (o.window > 0 ? fmt::format("causal self-attention, window {}", o.window)
                                                : std::string("causal self-attention"))
                                : self_attention ? "self-attention" : "cross-attention";
    return fmt::format("{}{} h{} g{} T{} S{}", kind, key_padding.defined() ? " + key padding" : "", o.heads,
                       o.kv_heads, t, s);
  };

#if TORCH_VERSION_MAJOR >= 2
  const bool pure_causal = o.causal && o.window == 0 && !key_padding.defined() && t == s;
  const double dropout = is_training() ? o.dropout : 0.0;
  const bool grouped = o.kv_heads != o.heads;
  std::optional<torch::Tensor> mask;  // an undefined tensor would count as a mask: leave the optional empty
  if (sdpa_enabled && x.is_cuda() && fold_enabled) {
    // Under autocast each projection would cast its fp32 input to bf16 again: cast once. The projections stay in
    // their [B, T, heads, d] layout; SDPA takes the transposed views (last dimension contiguous) without copies.
    const auto xin = cast_for_autocast(x);
    const auto min = self_attention ? xin : cast_for_autocast(memory);
    auto [q, k, v] = project_qkv_views(xin, min, self_attention);  // [B, T, h, dk], [B, g, S, d] twice
    torch::Tensor out;  // [B, T, h, dv]
    if (!grouped || (pure_causal && is_fused_backend(at::_fused_sdp_choice(q.transpose(1, 2), k, v, std::nullopt,
                                                                           dropout, true, std::nullopt, true)))) {
      // Multi-head as it is; or causal grouped / multi-query self-attention on a fused grouped-query kernel
      // (no mask; the kernel maps query head i to key/value head i / (h/g)).
      if (!pure_causal && allowed.defined()) mask = allowed.unsqueeze(1);  // [B|1, 1, T|1, S]
      out = sdpa(q.transpose(1, 2), k, v, mask, dropout, pure_causal, grouped,
                 grouped ? "grouped-query kernel, is_causal" : pure_causal ? "is_causal" : "mask",
                 record_enabled ? what() : "")
                .transpose(1, 2);
    } else {
      auto f = fold_query_heads(q, o.kv_heads, allowed);  // q [B, g, T*group, dk], mask [B|1, 1, T*group|1, S]
      if (f.allowed.defined()) mask = f.allowed;
      const std::string route = fmt::format("{} query heads folded into the query length{}",
                                            o.heads / o.kv_heads, mask ? ", mask" : "");
      out = unfold_query_heads(sdpa(f.q, k, v, mask, dropout, false, false, route, record_enabled ? what() : ""),
                               o.heads);
    }
    return autocast_linear(o_proj, out.reshape({b, t, o.heads * o.d_v}));
  }
#endif

  // The reference path (and, on CUDA with fold_query_heads off, the old SDPA call).
  auto q = autocast_linear(q_proj, x).view({b, t, o.heads, o.d_k}).transpose(1, 2).contiguous();  // [B,h,T,dk]
  auto [k, v] = project_kv(memory);  // [B, g, S, d]
  torch::Tensor out;                 // [B, h, T, dv]
#if TORCH_VERSION_MAJOR >= 2
  if (sdpa_enabled && x.is_cuda()) {
    // enable_gqa with an explicit mask, which SDPA may leave to the math kernel.
    if (!pure_causal && allowed.defined()) mask = allowed.unsqueeze(1);  // [B|1, 1, T|1, S]
    out = sdpa(q, k, v, mask, dropout, pure_causal, grouped, grouped ? "enable_gqa" : "heads as they are",
               record_enabled ? what() : "");
  }
#endif
  if (!out.defined()) {
    if (record_enabled) record(what() + ": plain [grouped_attention]");
    out = grouped_attention(q, k, v, allowed, o.dropout, is_training());
  }
  return autocast_linear(o_proj, out.transpose(1, 2).reshape({b, t, o.heads * o.d_v}));
}

}  // namespace mqa
