#include "mqa/decode/decode_ops.h"

#include <cmath>
#include <limits>

#include "mqa/model/attention.h"
#include "mqa/util/env_switch.h"
#include "mqa/util/linear_relu.h"

#ifdef MQA_WITH_KERNELS
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include <mutex>
#include <vector>

#include "mqa/kernels/decode_kernels.h"
#endif

namespace mqa::decode_ops {

namespace {

bool reference_forced = false;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

KernelSwitch& split_merge_in_kernel() {  // MQA_DECODE_SPLIT_MERGE, or set_split_merge_in_kernel in tests
  static KernelSwitch s("MQA_DECODE_SPLIT_MERGE",
                        "decode attention's splits merged by their last CTA; 0: by a second kernel");
  return s;
}
KernelSwitch& tensor_core_attention() {  // MQA_DECODE_TENSOR_CORES, or set_tensor_core_attention in tests
  static KernelSwitch s("MQA_DECODE_TENSOR_CORES",
                        "decode attention of 8 queries per key/value head on tensor cores; 0: on CUDA cores");
  return s;
}
KernelSwitch& norm_block_per_row() {  // MQA_DECODE_NORM_BLOCK, or set_norm_block_per_row in tests
  static KernelSwitch s("MQA_DECODE_NORM_BLOCK", "decoding's residual + layer norm with a CTA per row; 0: a warp");
  return s;
}

KernelSwitch& beam_update_kernel() {  // MQA_DECODE_BEAM_UPDATE, or set_fused_beam_update in tests
  static KernelSwitch s("MQA_DECODE_BEAM_UPDATE", "beam search's step update as one kernel; 0: as tensor ops");
  return s;
}

#ifdef MQA_WITH_KERNELS
cudaStream_t stream() { return at::cuda::getCurrentCUDAStream().stream(); }

int multiprocessors() {
  static const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  return sms;
}

// The attention kernel's tickets (decode_kernels.h) for `groups` (row, head) pairs on the current device: zeros that
// every launch leaves zero, allocated once per device and never freed (a captured CUDA graph keeps their address), so
// null where more are needed than that, or when the first request comes during a capture (then a second kernel
// merges the splits).
int32_t* attention_tickets(int64_t groups, const torch::Tensor& like) {
  constexpr int64_t kTickets = 1 << 20;
  static std::mutex mutex;
  static std::vector<torch::Tensor*> per_device;
  if (groups > kTickets) return nullptr;
  const auto device = static_cast<size_t>(like.device().index());
  std::lock_guard<std::mutex> lock(mutex);
  if (per_device.size() <= device) per_device.resize(device + 1, nullptr);
  if (!per_device[device]) {
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    C10_CUDA_CHECK(cudaStreamIsCapturing(stream(), &capturing));
    if (capturing != cudaStreamCaptureStatusNone) return nullptr;
    per_device[device] = new torch::Tensor(torch::zeros({kTickets}, like.options().dtype(torch::kInt32)));
  }
  return per_device[device]->data_ptr<int32_t>();
}

// The attention kernel for prepared arguments: split count, workspace, launch. Returns false (nothing launched)
// when the kernel does not handle these shapes.
bool launch_attention(kernels::DecodeAttentionArgs& a, int positions, const torch::Tensor& like) {
  a.splits = 1;
  a.tensor_cores = tensor_core_attention().on();
  if (!kernels::decode_attention_supported(a)) return false;
  a.splits = kernels::decode_attention_splits(a.kv_rows, a.kv_heads, positions, multiprocessors());
  torch::Tensor workspace;
  if (a.splits > 1) {
    workspace = torch::empty({kernels::decode_attention_workspace_floats(a)}, like.options().dtype(torch::kFloat32));
    a.workspace = workspace.data_ptr<float>();
    if (split_merge_in_kernel().on())
      a.tickets = attention_tickets(static_cast<int64_t>(a.kv_rows) * a.kv_heads, like);
  }
  kernels::decode_attention(a, stream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return true;
}
#endif

}  // namespace

bool kernels_built() {
#ifdef MQA_WITH_KERNELS
  return true;
#else
  return false;
#endif
}

bool use_kernels(const torch::Tensor& t) {
  return kernels_built() && !reference_forced && t.is_cuda() && t.scalar_type() == torch::kBFloat16;
}

void force_reference(bool on) { reference_forced = on; }

void check_kernel_switches() {
  split_merge_in_kernel().requested();
  tensor_core_attention().requested();
  norm_block_per_row().requested();
  beam_update_kernel().requested();
}
void set_split_merge_in_kernel(bool on) { split_merge_in_kernel().set(on); }
void set_tensor_core_attention(bool on) { tensor_core_attention().set(on); }
void set_norm_block_per_row(bool on) { norm_block_per_row().set(on); }
void set_fused_beam_update(bool on) { beam_update_kernel().set(on); }

torch::Tensor self_attention(const torch::Tensor& qkv, KVCache& cache, const torch::Tensor& pos, torch::Tensor& table,
                             const AttentionShape& s, const HostRange& range) {
  const int64_t n = qkv.size(0), h = s.heads, g = s.kv_heads, dk = s.d_k, dv = s.d_v;
  auto q = qkv.narrow(1, 0, h * dk);               // [N, h*dk]
  auto k_new = qkv.narrow(1, h * dk, g * dk);      // [N, g*dk]
  auto v_new = qkv.narrow(1, (h + g) * dk, g * dv);  // [N, g*dv]
#ifdef MQA_WITH_KERNELS
  if (use_kernels(qkv)) {
    auto out = torch::empty({n, h * dv}, qkv.options());
    kernels::DecodeAttentionArgs a;
    a.q = q.data_ptr();
    a.q_row_stride = qkv.stride(0);
    a.k = cache.k.data_ptr();
    a.k_row_stride = cache.k.stride(0), a.k_head_stride = cache.k.stride(1), a.k_pos_stride = cache.k.stride(2);
    a.v = cache.v.data_ptr();
    a.v_row_stride = cache.v.stride(0), a.v_head_stride = cache.v.stride(1), a.v_pos_stride = cache.v.stride(2);
    a.kv_rows = static_cast<int>(n), a.rows_per_kv = 1, a.heads = static_cast<int>(h), a.kv_heads = static_cast<int>(g);
    a.d_k = static_cast<int>(dk), a.d_v = static_cast<int>(dv), a.max_len = static_cast<int>(cache.max_len());
    a.pos = pos.data_ptr<int64_t>();
    a.window = static_cast<int>(s.window);
    a.table = table.defined() ? table.data_ptr<int32_t>() : nullptr;
    a.k_new = k_new.data_ptr(), a.v_new = v_new.data_ptr(), a.new_row_stride = qkv.stride(0);
    a.out = out.data_ptr(), a.out_row_stride = h * dv;
    a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dk)));
    const int64_t positions = s.window > 0 ? std::min(s.window, cache.max_len()) : cache.max_len();
    if (launch_attention(a, static_cast<int>(positions), qkv)) return out;
  }
#endif
  // LibTorch path: write the new key/value at each row's position, then attend over [lo, hi) with a mask per row.
  auto rows = torch::arange(n, pos.options());
  using torch::indexing::Slice;
  cache.k.index_put_({rows, Slice(), pos}, k_new.reshape({n, g, dk}));
  cache.v.index_put_({rows, Slice(), pos}, v_new.reshape({n, g, dv}));
  if (table.defined()) table.index_put_({rows, pos}, rows.to(torch::kInt));  // this row wrote this position
  const int64_t lo = s.window > 0 ? std::max<int64_t>(0, range.min_pos - s.window + 1) : 0;
  const int64_t hi = range.max_pos + 1;
  auto kpos = torch::arange(lo, hi, pos.options());                     // [L]
  auto allowed = kpos.unsqueeze(0).le(pos.unsqueeze(1));                // [N, L]
  if (s.window > 0) allowed = allowed.logical_and(kpos.unsqueeze(0).gt(pos.unsqueeze(1) - s.window));
  torch::Tensor k = cache.k.narrow(2, lo, hi - lo), v = cache.v.narrow(2, lo, hi - lo);  // [N, g, L, d]
  if (table.defined()) {
    // Position p of row r lives in row table[r, p]: gather [N, L] (row, position) pairs.
    auto phys = table.narrow(1, lo, hi - lo).to(torch::kLong);          // [N, L]
    auto at = kpos.unsqueeze(0).expand({n, hi - lo});                    // [N, L]
    k = cache.k.permute({0, 2, 1, 3}).index({phys, at}).permute({0, 2, 1, 3});  // [N, g, L, dk]
    v = cache.v.permute({0, 2, 1, 3}).index({phys, at}).permute({0, 2, 1, 3});
  }
  auto out = grouped_attention(q.reshape({n, h, 1, dk}), k, v, allowed.unsqueeze(1), 0.0, false);  // [N, h, 1, dv]
  return out.reshape({n, h * dv});
}

torch::Tensor cross_attention(const torch::Tensor& q, const torch::Tensor& kv, int64_t layer, int64_t layers,
                              const torch::Tensor& lengths, const torch::Tensor& padding, const AttentionShape& s) {
  const int64_t n = q.size(0), b = kv.size(1), src = kv.size(2), h = s.heads, g = s.kv_heads, dk = s.d_k,
                dv = s.d_v;
  const int64_t width = g * (dk + dv);  // one layer's keys and values of one position
  TORCH_CHECK(kv.dim() == 4 && kv.size(0) == layers && kv.size(3) == width && n % b == 0, "cross_attention: kv ",
              kv.sizes(), " does not hold ", layers, " layers of ", g, " x (", dk, " + ", dv, ") for ", n, " rows");
#ifdef MQA_WITH_KERNELS
  if (use_kernels(q) && kv.is_contiguous()) {
    auto out = torch::empty({n, h * dv}, q.options());
    auto* base = static_cast<at::BFloat16*>(kv.data_ptr()) + layer * b * src * width;
    kernels::DecodeAttentionArgs a;
    a.q = q.data_ptr();
    a.q_row_stride = q.stride(0);
    a.k = base;
    a.k_row_stride = src * width, a.k_head_stride = dk, a.k_pos_stride = width;
    a.v = base + g * dk;
    a.v_row_stride = src * width, a.v_head_stride = dv, a.v_pos_stride = width;
    a.kv_rows = static_cast<int>(b), a.rows_per_kv = static_cast<int>(n / b), a.heads = static_cast<int>(h);
    a.kv_heads = static_cast<int>(g), a.d_k = static_cast<int>(dk), a.d_v = static_cast<int>(dv);
    a.max_len = static_cast<int>(src);
    a.lengths = lengths.data_ptr<int64_t>();
    a.out = out.data_ptr(), a.out_row_stride = h * dv;
    a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dk)));
    if (launch_attention(a, static_cast<int>(src), q)) return out;
  }
#endif
  (void)lengths;
  auto kvl = kv[layer];                                                              // [B, S, g*(dk+dv)]
  auto k = kvl.narrow(2, 0, g * dk).reshape({b, src, g, dk}).permute({0, 2, 1, 3});   // [B, g, S, dk]
  auto v = kvl.narrow(2, g * dk, g * dv).reshape({b, src, g, dv}).permute({0, 2, 1, 3});
  auto allowed = padding.logical_not().unsqueeze(1);                                 // [B, 1, S]
  auto out = grouped_attention(q.reshape({n, h, 1, dk}), k, v, allowed, 0.0, false);  // [N, h, 1, dv]
  return out.reshape({n, h * dv});
}

torch::Tensor add_layernorm(torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& bias,
                            const torch::Tensor& gamma, const torch::Tensor& beta, double eps, bool update_x) {
  const int64_t d = x.size(-1);
#ifdef MQA_WITH_KERNELS
  if (use_kernels(x) && kernels::add_layernorm_supported(d) && x.is_contiguous() &&
      (!r.defined() || r.is_contiguous()) && gamma.scalar_type() == x.scalar_type()) {
    auto ln = torch::empty_like(x);
    kernels::add_layernorm(x.data_ptr(), r.defined() ? r.data_ptr() : nullptr,
                           r.defined() && bias.defined() ? bias.data_ptr() : nullptr,
                           update_x ? x.data_ptr() : nullptr, ln.data_ptr(), gamma.data_ptr(), beta.data_ptr(),
                           x.numel() / d, d, static_cast<float>(eps), norm_block_per_row().on(), stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return ln;
  }
#endif
  torch::Tensor sum = r.defined() ? x + (bias.defined() ? r + bias : r) : x;
  auto ln = torch::layer_norm(sum, {d}, gamma, beta, eps);
  if (update_x && r.defined()) x.copy_(sum);
  return ln;
}

torch::Tensor embed(const torch::Tensor& embedding, const torch::Tensor& positions, const torch::Tensor& tokens,
                    const torch::Tensor& pos, double scale) {
  const int64_t d = embedding.size(1);
#ifdef MQA_WITH_KERNELS
  if (use_kernels(embedding) && d % 8 == 0 && positions.scalar_type() == embedding.scalar_type()) {
    auto x = torch::empty({tokens.size(0), d}, embedding.options());
    kernels::embed(embedding.data_ptr(), positions.data_ptr(), tokens.data_ptr<int64_t>(), pos.data_ptr<int64_t>(),
                   x.data_ptr(), tokens.size(0), d, static_cast<float>(scale), stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return x;
  }
#endif
  return embedding.index_select(0, tokens) * scale + positions.index_select(0, pos);
}

torch::Tensor feed_forward(const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& b1,
                           const torch::Tensor& w2) {
  return torch::linear(linear_relu(x, w1, b1), w2);  // on the GPU the ReLU runs in the GEMM's epilogue
}

void greedy_pick(const torch::Tensor& logits, GreedyState& s) {
#ifdef MQA_WITH_KERNELS
  if (use_kernels(logits) && logits.stride(1) == 1) {
    kernels::GreedyPickArgs a;
    a.logits = logits.data_ptr();
    a.logits_row_stride = logits.stride(0);
    a.rows = logits.size(0), a.vocab = logits.size(1);
    a.pad = s.pad, a.bos = s.bos, a.eos = s.eos, a.min_len = s.min_len;
    a.pos = s.pos.data_ptr<int64_t>();
    a.start = s.start.data_ptr<int64_t>();
    a.eos_at = s.eos_at.defined() ? s.eos_at.data_ptr<int64_t>() : nullptr;
    a.stop_at = s.stop_at.defined() ? s.stop_at.data_ptr<int64_t>() : nullptr;
    a.done = s.done.data_ptr<bool>();
    a.logprob = s.logprob.data_ptr<double>();
    a.length = s.length.data_ptr<int64_t>();
    a.next = s.next.data_ptr<int64_t>();
    a.out = s.out.data_ptr<int64_t>();
    kernels::greedy_pick(a, stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return;
  }
#endif
  const int64_t n = logits.size(0), vocab = logits.size(1);
  auto lp = torch::log_softmax(logits.to(torch::kFloat32), -1);  // [N, V]: the model's own distribution
  auto t = s.pos - s.start;                                        // [N] this step
  auto ids = torch::arange(vocab, s.pos.options()).unsqueeze(0);   // [1, V]
  // Never pad or bos; no eos before min_len; only eos from eos_at on (the length limit wins over min_len).
  auto is_eos = ids.eq(s.eos);
  auto allowed = ids.ne(s.pad).logical_and(ids.ne(s.bos)).expand({n, vocab});
  if (s.min_len > 0) allowed = allowed.logical_and(t.lt(s.min_len).unsqueeze(1).logical_and(is_eos).logical_not());
  if (s.eos_at.defined()) allowed = torch::where(t.ge(s.eos_at).unsqueeze(1), is_eos.expand({n, vocab}), allowed);
  auto [best, token] = lp.masked_fill(allowed.logical_not(), kNegInf).max(1);  // [N], [N]
  commit_choice(s, token, best.to(torch::kFloat64));
}

BeamCandidates beam_candidates(const torch::Tensor& logits, const torch::Tensor& score, const torch::Tensor& t,
                               const torch::Tensor& eos_at, int64_t count, int64_t pad, int64_t bos, int64_t eos,
                               int64_t min_len) {
  const int64_t n = logits.size(0), vocab = logits.size(1);
  BeamCandidates c;
#ifdef MQA_WITH_KERNELS
  if (use_kernels(logits) && logits.stride(1) == 1 && kernels::beam_candidates_supported(count)) {
    c.total = torch::empty({n, count}, logits.options().dtype(torch::kFloat32));
    c.logprob = torch::empty_like(c.total);
    c.token = torch::empty({n, count}, logits.options().dtype(torch::kLong));
    auto sc = score.contiguous();
    kernels::BeamCandidatesArgs a;
    a.logits = logits.data_ptr();
    a.logits_row_stride = logits.stride(0);
    a.rows = n, a.vocab = vocab, a.count = count;
    a.pad = pad, a.bos = bos, a.eos = eos, a.min_len = min_len;
    a.step = t.data_ptr<int64_t>();
    a.eos_at = eos_at.defined() ? eos_at.data_ptr<int64_t>() : nullptr;
    a.score = sc.data_ptr<float>();
    a.total = c.total.data_ptr<float>(), a.logprob = c.logprob.data_ptr<float>(), a.token = c.token.data_ptr<int64_t>();
    kernels::beam_candidates(a, stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return c;
  }
#endif
  auto lp = torch::log_softmax(logits.to(torch::kFloat32), -1);  // [N, V]: the model's own distribution
  auto ids = torch::arange(vocab, t.options()).unsqueeze(0);      // [1, V]
  // As greedy_pick: never pad or bos; no eos before min_len; only eos from eos_at on (the length limit wins).
  auto not_eos = ids.ne(eos);
  auto banned = ids.eq(pad).logical_or(ids.eq(bos)).expand({n, vocab});
  if (min_len > 0) banned = banned.logical_or(t.lt(min_len).unsqueeze(1).logical_and(not_eos.logical_not()));
  if (eos_at.defined()) banned = torch::where(t.ge(eos_at).unsqueeze(1), not_eos.expand({n, vocab}), banned);
  auto [best, token] = lp.masked_fill(banned, kNegInf).topk(count, 1);  // [N, count], best first
  c.logprob = best;
  c.total = score.view({n, 1}) + best;
  c.token = token;
  return c;
}

bool fused_beam_update(const BeamCandidates& cand, BeamUpdateState& s) {
#ifdef MQA_WITH_KERNELS
  const int64_t n = cand.total.size(0), count = cand.total.size(1), beams = s.beams, rows = s.rows_per_source;
  if (reference_forced || !beam_update_kernel().on() || !cand.total.is_cuda() || !s.table.defined() ||
      !kernels::beam_update_supported(beams, rows, count) || n % rows != 0 || s.scores.size(1) != rows)
    return false;
  auto check = [](const torch::Tensor& x, torch::ScalarType type, const char* name) {
    TORCH_CHECK(x.scalar_type() == type && x.is_contiguous() && x.is_cuda(), "fused_beam_update: ", name, " is ",
                x.scalar_type(), ", contiguous ", x.is_contiguous(), ", on ", x.device(), "; expected ", type,
                ", contiguous, on CUDA");
    return x.data_ptr();
  };
  using torch::kLong;
  kernels::BeamUpdateArgs a;
  a.sources = n / rows, a.beams = beams, a.rows_per_source = rows, a.count = count, a.slots = s.slots;
  a.max_len = s.table.size(1), a.eos = s.eos;
  a.total = static_cast<const float*>(check(cand.total, torch::kFloat32, "total"));
  a.logprob = static_cast<const float*>(check(cand.logprob, torch::kFloat32, "logprob"));
  a.token = static_cast<const int64_t*>(check(cand.token, kLong, "token"));
  a.pen = static_cast<const float*>(check(s.pen, torch::kFloat32, "pen"));
  a.pos = static_cast<int64_t*>(check(s.pos, kLong, "pos"));
  a.scores = static_cast<float*>(check(s.scores, torch::kFloat32, "scores"));
  a.sums = static_cast<double*>(check(s.sums, torch::kFloat64, "sums"));
  a.done = static_cast<bool*>(check(s.done, torch::kBool, "done"));
  a.greedy_open = static_cast<bool*>(check(s.greedy_open, torch::kBool, "greedy_open"));
  if (rows > beams) a.longest_pen = static_cast<const float*>(check(s.longest_pen, torch::kFloat32, "longest_pen"));
  a.fin_count = static_cast<int64_t*>(check(s.fin_count, kLong, "fin_count"));
  a.beams_finished = static_cast<int64_t*>(check(s.beams_finished, kLong, "beams_finished"));
  a.fin_score = static_cast<float*>(check(s.fin_score, torch::kFloat32, "fin_score"));
  a.fin_lp = static_cast<double*>(check(s.fin_lp, torch::kFloat64, "fin_lp"));
  a.fin_step = static_cast<int64_t*>(check(s.fin_step, kLong, "fin_step"));
  a.fin_row = static_cast<int64_t*>(check(s.fin_row, kLong, "fin_row"));
  a.fin_hash = static_cast<int64_t*>(check(s.fin_hash, kLong, "fin_hash"));
  a.hash = static_cast<int64_t*>(check(s.hash, kLong, "hash"));
  a.hist_tok = static_cast<int64_t*>(check(s.hist_tok, kLong, "hist_tok"));
  a.hist_par = static_cast<int64_t*>(check(s.hist_par, kLong, "hist_par"));
  a.table = static_cast<int32_t*>(check(s.table, torch::kInt32, "table"));
  a.tokens = static_cast<int64_t*>(check(s.tokens, kLong, "tokens"));
  TORCH_CHECK(s.fin_score.size(1) == s.slots + 1 && s.table.size(0) == n && s.hist_tok.size(1) == n,
              "fused_beam_update: fin_score ", s.fin_score.sizes(), ", table ", s.table.sizes(), ", hist_tok ",
              s.hist_tok.sizes(), " do not fit ", n, " rows and ", s.slots, " slots");
  kernels::beam_update(a, stream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return true;
#else
  (void)cand, (void)s;
  return false;
#endif
}

void commit_choice(GreedyState& s, const torch::Tensor& token, const torch::Tensor& token_logprob) {
  const int64_t n = token.size(0);
  auto t = s.pos - s.start;  // [N]
  auto live = s.done.logical_not();
  s.logprob.add_(torch::where(live, token_logprob, torch::zeros_like(s.logprob)));
  auto rows = torch::arange(n, s.pos.options());
  s.out.index_put_({t, rows}, torch::where(live, token, s.out.index({t, rows})));
  auto ended_eos = live.logical_and(token.eq(s.eos));
  auto ended_stop = live.logical_and(ended_eos.logical_not());
  ended_stop = s.stop_at.defined() ? ended_stop.logical_and(t.ge(s.stop_at)) : torch::zeros_like(ended_stop);
  s.length.copy_(torch::where(ended_eos, t, torch::where(ended_stop, t + 1, s.length)));
  s.next.copy_(torch::where(live, token, torch::full_like(token, s.eos)));
  s.done.logical_or_(ended_eos.logical_or(ended_stop));
  s.pos.add_(1);
}

}  // namespace mqa::decode_ops
