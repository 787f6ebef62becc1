#include "mqa/model/layers.h"

#include "mqa/util/autocast_state.h"

namespace mqa {

FeedForwardImpl::FeedForwardImpl(int64_t d_model, int64_t d_ff, double relu_dropout) : relu_dropout_(relu_dropout) {
  w1 = register_module("w1", torch::nn::Linear(d_model, d_ff));
  w2 = register_module("w2", torch::nn::Linear(d_ff, d_model));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  // Under autocast the weights come from autocast's cache (one bf16 copy per region or step); on the GPU the ReLU
  // runs in the first GEMM's epilogue (util/linear_relu.h).
  auto h = autocast_linear_relu(w1, x);
  if (is_training() && relu_dropout_ > 0) h = torch::dropout(h, relu_dropout_, true);
  return autocast_linear(w2, h);
}

AttentionOptions encoder_attention_options(const ModelConfig& c) {
  AttentionOptions o;
  o.d_model = c.d_model;
  o.heads = c.heads;
  o.kv_heads = c.kv_heads;
  o.d_k = c.d_k;
  o.d_v = c.d_v;
  o.dropout = c.attention_dropout;
  return o;
}

AttentionOptions decoder_self_attention_options(const ModelConfig& c) {
  AttentionOptions o = encoder_attention_options(c);
  o.causal = true;
  o.window = c.window;  // the paper's local attention restricts decoder self-attention only
  return o;
}

AttentionOptions cross_attention_options(const ModelConfig& c) { return encoder_attention_options(c); }

namespace {
torch::Tensor apply_residual(const torch::Tensor& x, torch::nn::LayerNorm& norm, bool pre_norm, double dropout,
                             bool training, const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  // autocast_layer_norm: under autocast with train.bf16_residual the stream stays bf16 (util/autocast_state.h).
  if (pre_norm) return x + torch::dropout(f(autocast_layer_norm(norm, x)), dropout, training);
  return autocast_layer_norm(norm, x + torch::dropout(f(x), dropout, training));
}
}  // namespace

EncoderLayerImpl::EncoderLayerImpl(const ModelConfig& c) : pre_norm_(c.norm == "pre"), dropout_(c.dropout) {
  self_attn = register_module("self_attn", Attention(encoder_attention_options(c)));
  ffn = register_module("ffn", FeedForward(c.d_model, c.d_ff, c.relu_dropout));
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model})));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model})));
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& padding) {
  auto h = apply_residual(x, norm1, pre_norm_, dropout_, is_training(),
                          [&](const torch::Tensor& y) { return self_attn(y, y, padding); });
  return apply_residual(h, norm2, pre_norm_, dropout_, is_training(), [&](const torch::Tensor& y) { return ffn(y); });
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, bool with_cross_attention)
    : pre_norm_(c.norm == "pre"), dropout_(c.dropout) {
  self_attn = register_module("self_attn", Attention(decoder_self_attention_options(c)));
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model})));
  if (with_cross_attention) {
    cross_attn = register_module("cross_attn", Attention(cross_attention_options(c)));
    norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model})));
  }
  ffn = register_module("ffn", FeedForward(c.d_model, c.d_ff, c.relu_dropout));
  norm3 = register_module("norm3", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model})));
}

torch::Tensor DecoderLayerImpl::residual(const torch::Tensor& x, torch::nn::LayerNorm& norm,
                                         const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  return apply_residual(x, norm, pre_norm_, dropout_, is_training(), f);
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& memory,
                                        const torch::Tensor& memory_padding) {
  auto h = residual(x, norm1, [&](const torch::Tensor& y) { return self_attn(y, y, torch::Tensor()); });
  if (cross_attn) h = residual(h, norm2, [&](const torch::Tensor& y) { return cross_attn(y, memory, memory_padding); });
  return residual(h, norm3, [&](const torch::Tensor& y) { return ffn(y); });
}

}  // namespace mqa
