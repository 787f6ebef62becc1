#include "mqa/bench/roofline.h"

#include <algorithm>
#include <vector>

#include "mqa/util/timer.h"

namespace mqa::bench {

namespace {
// Matrix weights of one attention layer: Q D x h*dk, K D x g*dk, V D x g*dv, O h*dv x D (no biases).
int64_t attention_weights(const ModelConfig& m) {
  const int64_t D = m.d_model;
  return D * m.heads * m.d_k + D * m.kv_heads * (m.d_k + m.d_v) + m.heads * m.d_v * D;
}
int64_t cross_kv_weights(const ModelConfig& m) { return int64_t{m.d_model} * m.kv_heads * (m.d_k + m.d_v); }
int64_t ffn_weights(const ModelConfig& m) { return 2 * int64_t{m.d_model} * m.d_ff; }

// Positions a causal query attends, averaged over positions 0 .. t-1: min(p + 1, window).
double mean_attended(int64_t t, int64_t window) {
  double sum = 0;
  for (int64_t p = 0; p < t; ++p) sum += window > 0 ? std::min(p + 1, window) : p + 1;
  return t > 0 ? sum / static_cast<double>(t) : 0.0;
}
bool seq2seq(const ModelConfig& m) { return m.type == "seq2seq"; }
}  // namespace

int64_t decoder_step_params(const ModelConfig& m, int64_t vocab) {
  const int64_t D = m.d_model;
  const bool cross = seq2seq(m);
  int64_t layer = attention_weights(m) + ffn_weights(m) + m.d_ff + D;  // + feed-forward biases
  layer += (cross ? 3 : 2) * 2 * D;                                    // LayerNorm weight + bias
  if (cross) layer += attention_weights(m) - cross_kv_weights(m);      // cross-attention Q and O
  int64_t total = m.decoder_layers * layer + vocab * D;                // + output projection (tied or not)
  if (m.norm == "pre") total += 2 * D;                                 // final norm
  return total;
}

DecodeCost decode_step_cost(const DecodeShape& s) {
  const auto& m = s.model;
  const double n = static_cast<double>(s.batch * s.beams), layers = m.decoder_layers, e = s.elem_bytes;
  const double kv = static_cast<double>(m.kv_heads) * (m.d_k + m.d_v);  // cache elements per position per layer
  DecodeCost c;
  c.step_params = decoder_step_params(m, s.vocab);
  c.attended = mean_attended(s.target_len, m.window);
  c.weight_bytes = static_cast<double>(c.step_params) * e;
  c.self_kv_read_bytes = n * layers * kv * c.attended * e;
  c.cross_kv_read_bytes = seq2seq(m) ? static_cast<double>(s.batch) * layers * kv * s.source_len * e : 0.0;
  c.cache_write_bytes = n * layers * kv * e;
  // Beam search keeps the rows of the positions later steps may read: all written ones, or the window.
  c.reorder_bytes = s.beams > 1 ? 2.0 * n * layers * kv * c.attended * e : 0.0;
  const double per_query = 2.0 * m.heads * (m.d_k + m.d_v);  // scores (d_k) and weighted sum (d_v), 2 FLOPs each
  c.flops = 2.0 * static_cast<double>(c.step_params) * n +
            n * layers * per_query * (c.attended + (seq2seq(m) ? s.source_len : 0));
  return c;
}

double train_step_flops(const ModelConfig& m, int64_t vocab, int64_t batch, int64_t source_len, int64_t target_len) {
  const double B = batch, S = source_len, T = target_len;
  const double per_query = 2.0 * m.heads * (m.d_k + m.d_v);
  double forward = 0;
  if (seq2seq(m)) {
    forward += B * S * m.encoder_layers * (2.0 * (attention_weights(m) + ffn_weights(m)) + per_query * S);
    forward += B * S * m.decoder_layers * 2.0 * cross_kv_weights(m);  // cross K/V projections of the source
    forward += B * T * m.decoder_layers *
               (2.0 * (attention_weights(m) - cross_kv_weights(m)) + per_query * S);  // cross Q, O and attention
  }
  forward += B * T * m.decoder_layers *
             (2.0 * (attention_weights(m) + ffn_weights(m)) + per_query * mean_attended(target_len, m.window));
  forward += B * T * 2.0 * m.d_model * vocab;  // output projection
  return 3.0 * forward;
}

double datasheet_matmul_flops_per_s(const std::string& device_name, torch::ScalarType dtype) {
  if (dtype != torch::kBFloat16 && dtype != torch::kHalf) return 0;
  // Dense (not 2:4 sparse) tensor-core rates, bf16 = fp16, from NVIDIA's datasheets. The H100 PCIe's name lacks
  // "HBM3" and "NVL"; the SXM part reports "NVIDIA H100 80GB HBM3".
  struct Entry {
    const char* name_part;
    double tflops;
  };
  static const Entry kTable[] = {
      {"H200", 989.4}, {"H100 NVL", 835.5}, {"H100 PCIe", 756.5}, {"H100", 989.4}, {"A100", 312.0}};
  for (const auto& e : kTable)
    if (device_name.find(e.name_part) != std::string::npos) return e.tflops * 1e12;
  return 0;
}

Ceilings measure_ceilings(const torch::Device& device, torch::ScalarType dtype, int repeats) {
  torch::NoGradGuard no_grad;
  const bool gpu = device.is_cuda();
  Ceilings c;
  c.dtype = std::string(c10::toString(dtype));
  Timer timer(device);
  auto opts = torch::TensorOptions().device(device).dtype(dtype);
  const int inner = gpu ? 10 : 2;  // operations per timed region, so that one region is well above event resolution
  {
    const int64_t n = gpu ? (int64_t{1} << 28) : (int64_t{1} << 22);  // 512 MiB of bf16 on the GPU: far over L2
    auto a = torch::randn({n}, opts), b = torch::empty_like(a);
    b.copy_(a);
    std::vector<double> ms;
    for (int r = 0; r < repeats; ++r) {
      timer.start();
      for (int i = 0; i < inner; ++i) (i % 2 ? a : b).copy_(i % 2 ? b : a);
      ms.push_back(timer.stop() / inner);
    }
    c.copy_bytes = 2 * n * static_cast<int64_t>(a.element_size());
    c.copy_bytes_per_s = static_cast<double>(c.copy_bytes) / (summarize(ms).median * 1e-3);
  }
  {
    const int64_t n = gpu ? 8192 : 256;
    auto a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts), out = torch::empty({n, n}, opts);
    torch::mm_out(out, a, b);
    std::vector<double> ms;
    for (int r = 0; r < repeats; ++r) {
      timer.start();
      for (int i = 0; i < inner; ++i) torch::mm_out(out, i % 2 ? b : a, i % 2 ? a : b);
      ms.push_back(timer.stop() / inner);
    }
    c.matmul_n = n;
    c.matmul_flops_per_s = 2.0 * n * n * n / (summarize(ms).median * 1e-3);
  }
  synchronize(device);
  return c;
}

Floor floor_of(double bytes, double flops, const Ceilings& c) {
  Floor f;
  f.bytes_s = bytes / c.copy_bytes_per_s;
  f.flops_s = flops / c.matmul_flops_per_s;
  return f;
}

}  // namespace mqa::bench
