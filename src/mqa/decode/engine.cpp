#include "mqa/decode/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "mqa/decode/search_common.h"
#include "mqa/train/autocast.h"

namespace mqa {

EngineOptions engine_options(torch::ScalarType precision) {
  EngineOptions o;
  o.dtype = precision;
  return o;
}

DecodeEngine::DecodeEngine(Transformer model, const EngineOptions& options)
    : model_(std::move(model)), options_(options), device_(detail::device_of(*model_)) {
  TORCH_CHECK(options.dtype == torch::kFloat32 || options.dtype == torch::kBFloat16,
              "DecodeEngine: compute dtype must be fp32 or bf16");
  TORCH_CHECK(options.check_every >= 1, "DecodeEngine: check_every must be >= 1");
  torch::NoGradGuard no_grad;
  const ModelConfig& c = model_->config();
  auto cast = [&](const torch::Tensor& t) { return t.detach().to(device_, options.dtype).contiguous(); };
  pre_norm_ = c.norm == "pre";
  self_shape_ = {c.heads, c.kv_heads, c.d_k, c.d_v, c.window};
  cross_shape_ = {c.heads, c.kv_heads, c.d_k, c.d_v, 0};
  std::vector<torch::Tensor> cross_kv;
  for (int64_t i = 0; i < c.decoder_layers; ++i) {
    const DecoderLayerImpl& l = model_->decoder_layer(i);
    Layer w;
    w.norm1_w = cast(l.norm1->weight), w.norm1_b = cast(l.norm1->bias);
    norm_eps_ = l.norm1->options.eps();
    w.qkv = cast(torch::cat({l.self_attn->q_proj->weight, l.self_attn->k_proj->weight, l.self_attn->v_proj->weight}));
    w.o = cast(l.self_attn->o_proj->weight);
    if (l.cross_attn) {
      w.norm2_w = cast(l.norm2->weight), w.norm2_b = cast(l.norm2->bias);
      w.cross_q = cast(l.cross_attn->q_proj->weight);
      w.cross_o = cast(l.cross_attn->o_proj->weight);
      cross_kv.push_back(l.cross_attn->k_proj->weight);
      cross_kv.push_back(l.cross_attn->v_proj->weight);
    }
    w.norm3_w = cast(l.norm3->weight), w.norm3_b = cast(l.norm3->bias);
    w.w1 = cast(l.ffn->w1->weight), w.b1 = cast(l.ffn->w1->bias);
    w.w2 = cast(l.ffn->w2->weight), w.b2 = cast(l.ffn->w2->bias);
    layers_.push_back(std::move(w));
  }
  if (!cross_kv.empty()) cross_kv_ = cast(torch::cat(cross_kv));
  embedding_ = cast(model_->target_embedding()->weight);
  positions_ = cast(model_->position_table());
  output_ = cast(model_->output_weight());
  if (const auto& norm = model_->final_decoder_norm()) final_w_ = cast(norm->weight), final_b_ = cast(norm->bias);
  embed_scale_ = std::sqrt(static_cast<double>(c.d_model));
  kernel_path_ = decode_ops::use_kernels(embedding_);
}

void DecodeEngine::allocate(DecodeBatch& b, int64_t sources, int64_t rows_per_source, int64_t max_len,
                            int64_t source_len, bool table) {
  const ModelConfig& c = model_->config();
  const int64_t n = sources * rows_per_source;
  const bool same = b.rows() == n && b.sources == sources && b.max_len == max_len && b.source_len == source_len &&
                    b.table.defined() == (table && kernel_path_);
  if (same) return;
  b = DecodeBatch();
  b.sources = sources, b.rows_per_source = rows_per_source, b.max_len = max_len, b.source_len = source_len;
  const auto opts = embedding_.options();
  const auto longs = opts.dtype(torch::kLong);
  for (int64_t i = 0; i < c.decoder_layers; ++i) b.self.emplace_back(n, c.kv_heads, max_len, c.d_k, c.d_v, opts);
  b.tokens = torch::zeros({n}, longs);
  b.pos = torch::zeros({n}, longs);
  b.start = torch::zeros({n}, longs);
  if (table && kernel_path_) b.table = torch::empty({n, max_len}, opts.dtype(torch::kInt));
  if (source_len > 0) {
    const int64_t layers = c.decoder_layers;
    b.cross_kv = torch::empty({layers, sources, source_len, cross_kv_.size(0) / layers}, opts);
    b.src_lengths = torch::zeros({sources}, longs);
    b.src_padding = torch::zeros({sources, source_len}, opts.dtype(torch::kBool));
  }
}

void DecodeEngine::start_sources(DecodeBatch& b, const torch::Tensor& src, int64_t rows_per_source, int64_t max_len,
                                 int64_t bos, bool beams) {
  TORCH_CHECK(model_->is_seq2seq(), "start_sources: the model is a language model, not seq2seq");
  TORCH_CHECK(max_len <= model_->config().max_positions, "decoding length ", max_len,
              " exceeds model.max_positions (", model_->config().max_positions, ")");
  const int64_t sources = src.size(0), source_len = src.size(1);
  allocate(b, sources, rows_per_source, max_len, source_len, beams);
  torch::Tensor memory;
  {
    // The encoder runs through the training modules, in the compute dtype (autocast when the weights are fp32).
    const bool cast = model_->target_embedding()->weight.scalar_type() != options_.dtype;
    Autocast autocast(device_, cast ? options_.dtype : torch::kFloat32);
    memory = model_->encode(src).memory;
  }
  memory = memory.to(options_.dtype);
  // One GEMM for all layers ([B, S, layers * g * (d_k + d_v)]), stored layer-major (one copy, once per source): a
  // source's positions of a layer are then one contiguous block. Measured on an H100 against the GEMM's own layout
  // (a layer's keys and values of a position every layers x width elements): multi-head greedy 4-5% faster at B 128
  // and 1024, multi-query unchanged (experiments/table2/NOTES.md, item 31).
  const int64_t layers = b.cross_kv.size(0);
  b.cross_kv.copy_(torch::linear(memory, cross_kv_).view({sources, source_len, layers, -1}).permute({2, 0, 1, 3}));
  b.src_padding.copy_(src.eq(model_->pad_id()));
  b.src_lengths.copy_(src.ne(model_->pad_id()).sum(1));
  b.tokens.fill_(bos);
  b.pos.zero_();
  b.start.zero_();
  if (b.table.defined()) b.table.copy_(torch::arange(b.rows(), b.table.options()).unsqueeze(1).expand_as(b.table));
  b.host = {0, 0};
}

torch::Tensor DecodeEngine::start_prompts(DecodeBatch& b, const std::vector<std::vector<int64_t>>& prompts,
                                          int64_t max_len) {
  TORCH_CHECK(!model_->is_seq2seq(), "start_prompts: the model is seq2seq, not a language model");
  const int64_t n = static_cast<int64_t>(prompts.size());
  int64_t longest = 0, shortest = max_len;
  for (const auto& p : prompts) {
    TORCH_CHECK(!p.empty(), "start_prompts: empty prompt");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(p.size()));
    shortest = std::min<int64_t>(shortest, static_cast<int64_t>(p.size()));
  }
  TORCH_CHECK(longest <= max_len, "start_prompts: a prompt of ", longest, " tokens does not fit ", max_len,
              " positions");
  allocate(b, n, 1, max_len, 0, false);
  // tokens [N, P] right-padded (the padding sits after each prompt: causal attention never lets a prompt see it,
  // and each row's generation overwrites those cache positions).
  std::vector<int64_t> flat(n * longest, model_->pad_id()), last(n);
  for (int64_t r = 0; r < n; ++r) {
    std::copy(prompts[r].begin(), prompts[r].end(), flat.begin() + r * longest);
    last[r] = static_cast<int64_t>(prompts[r].size()) - 1;
  }
  auto tokens = detail::long_tensor(flat, device_).view({n, longest});
  auto positions = torch::arange(longest, tokens.options());
  auto x = (embedding_.index_select(0, tokens.flatten()).view({n, longest, -1}) * embed_scale_ +
            positions_.index_select(0, positions).unsqueeze(0))
               .view({n * longest, -1});  // [N*P, D]
  const auto& s = self_shape_;
  auto kpos = positions.unsqueeze(0), qpos = positions.unsqueeze(1);
  auto allowed = kpos.le(qpos);  // [P, P] causal
  if (s.window > 0) allowed = allowed.logical_and(kpos.gt(qpos - s.window));
  auto attend = [&](int64_t layer, const torch::Tensor& qkv) {
    // qkv [N*P, ...] -> q [N, h, P, dk], k [N, g, P, dk], v [N, g, P, dv]; the caches take k and v at 0..P-1.
    auto q = qkv.narrow(1, 0, s.heads * s.d_k).view({n, longest, s.heads, s.d_k}).transpose(1, 2).contiguous();
    auto k = qkv.narrow(1, s.heads * s.d_k, s.kv_heads * s.d_k).view({n, longest, s.kv_heads, s.d_k}).transpose(1, 2);
    auto v = qkv.narrow(1, (s.heads + s.kv_heads) * s.d_k, s.kv_heads * s.d_v)
                 .view({n, longest, s.kv_heads, s.d_v})
                 .transpose(1, 2);
    b.self[layer].k.narrow(2, 0, longest).copy_(k);
    b.self[layer].v.narrow(2, 0, longest).copy_(v);
    auto out = grouped_attention(q, k.contiguous(), v.contiguous(), allowed.unsqueeze(0), 0.0, false);  // [N,h,P,dv]
    return out.transpose(1, 2).reshape({n * longest, s.heads * s.d_v});
  };
  auto h = decoder(x, nullptr, attend).view({n, longest, -1});                       // [N, P, D]
  auto at_last = detail::long_tensor(last, device_);
  auto final = h.index({torch::arange(n, at_last.options()), at_last});               // [N, D]
  b.pos.copy_(at_last);
  b.start.copy_(at_last);
  b.host = {shortest - 1, longest - 1};
  return torch::linear(final, output_);  // [N, V]
}

torch::Tensor DecodeEngine::decoder(torch::Tensor x, DecodeBatch* cross,
                                    const std::function<torch::Tensor(int64_t, const torch::Tensor&)>& self_attend) {
  using decode_ops::add_layernorm;
  const int64_t layers = static_cast<int64_t>(layers_.size());
  // Pre-norm: x is the residual stream, `a` the normalised input of the next sublayer (the residual add fused
  // into its layer norm). Post-norm: x = norm(x + f(x)) and a = x.
  torch::Tensor a = pre_norm_ ? add_layernorm(x, {}, {}, layers_[0].norm1_w, layers_[0].norm1_b, norm_eps_, false) : x;
  // x += f + f_bias, then the next sublayer's input: norm (w, b) of x (pre-norm) or x itself, normed by the
  // sublayer's own (post_w, post_b) (post-norm).
  auto residual = [&](const torch::Tensor& f, const torch::Tensor& f_bias, const torch::Tensor& w,
                      const torch::Tensor& b, const torch::Tensor& post_w, const torch::Tensor& post_b) {
    if (pre_norm_) {
      a = add_layernorm(x, f, f_bias, w, b, norm_eps_, /*update_x=*/true);
    } else {
      x = add_layernorm(x, f, f_bias, post_w, post_b, norm_eps_, false);
      a = x;
    }
  };
  for (int64_t i = 0; i < layers; ++i) {
    const Layer& l = layers_[i];
    const bool has_cross = cross != nullptr;
    auto att = self_attend(i, torch::linear(a, l.qkv));  // one GEMM for q, k and v
    const torch::Tensor& next_w = has_cross ? l.norm2_w : l.norm3_w;
    const torch::Tensor& next_b = has_cross ? l.norm2_b : l.norm3_b;
    residual(torch::linear(att, l.o), {}, next_w, next_b, l.norm1_w, l.norm1_b);
    if (has_cross) {
      auto catt = decode_ops::cross_attention(torch::linear(a, l.cross_q), cross->cross_kv, i, layers,
                                              cross->src_lengths, cross->src_padding, cross_shape_);
      residual(torch::linear(catt, l.cross_o), {}, l.norm3_w, l.norm3_b, l.norm2_w, l.norm2_b);
    }
    auto f = decode_ops::feed_forward(a, l.w1, l.b1, l.w2);
    const bool last = i + 1 == layers;
    residual(f, l.b2, last ? final_w_ : layers_[i + 1].norm1_w, last ? final_b_ : layers_[i + 1].norm1_b, l.norm3_w,
             l.norm3_b);
  }
  return a;
}

torch::Tensor DecodeEngine::step(DecodeBatch& b) {
  auto x = decode_ops::embed(embedding_, positions_, b.tokens, b.pos, embed_scale_);  // [N, D]
  auto attend = [&](int64_t layer, const torch::Tensor& qkv) {
    return decode_ops::self_attention(qkv, b.self[layer], b.pos, b.table, self_shape_, b.host);
  };
  return torch::linear(decoder(x, b.cross_kv.defined() ? &b : nullptr, attend), output_);  // [N, V]
}

void DecodeEngine::reorder(DecodeBatch& b, const torch::Tensor& parents) {
  if (b.table.defined()) {  // every row takes its parent's history (the step recorded who wrote each position)
    b.table.copy_(b.table.index_select(0, parents));
    return;
  }
  for (auto& cache : b.self) {
    cache.k.copy_(cache.k.index_select(0, parents));
    cache.v.copy_(cache.v.index_select(0, parents));
  }
}

void DecodeEngine::advance(DecodeBatch& b) {
  b.pos.add_(1);
  ++b.host.min_pos, ++b.host.max_pos;
}

void DecodeEngine::on_stream(const std::function<void()>& fn) {
  torch::NoGradGuard no_grad;
  detail::EvalModeGuard eval_mode(*model_);
  with_side_stream(device_, fn);
}

int64_t DecodeEngine::run(DecodeBatch& b, std::unique_ptr<GraphSet>& graph,
                          const std::function<void()>& step_and_choose, const std::function<bool(int64_t)>& stop,
                          int64_t max_steps) {
  const bool graphs = options_.cuda_graphs && kernel_path_ && graph_error_.empty() && graphs_supported(device_);
  int64_t t = 0;
  while (t < max_steps) {
    if (graph)
      graph->replay(0);
    else
      step_and_choose();
    ++t;
    ++b.host.min_pos, ++b.host.max_pos;
    if (graphs && !graph && t < max_steps) {
      // Captured after one eager step (which warmed up the kernels and library handles on this stream); capture
      // records without running, so the next replay is the next step.
      try {
        auto g = std::make_unique<GraphSet>(device_);
        g->capture(step_and_choose);
        graph = std::move(g);
      } catch (const std::exception& e) {
        graph_error_ = e.what();
      }
    }
    if ((t % options_.check_every == 0 || t == max_steps) && stop(t)) break;
  }
  return t;
}

}  // namespace mqa
