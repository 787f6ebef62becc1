// The Transformer's building blocks: the feed-forward block and the encoder and decoder layers.
// Norm placement is a config choice: pre-norm (x + f(norm(x)), the default: it trains stably without a long
// warmup, which matters for short runs) or post-norm (norm(x + f(x)), the original Transformer).
#pragma once
#include <torch/torch.h>

#include "mqa/config/model_config.h"
#include "mqa/model/attention.h"

namespace mqa {

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t d_model, int64_t d_ff, double relu_dropout);
  torch::Tensor forward(const torch::Tensor& x);  // [.., d_model] -> [.., d_model]
  torch::nn::Linear w1{nullptr}, w2{nullptr};

 private:
  double relu_dropout_;
};
TORCH_MODULE(FeedForward);

// Attention options of each kind of layer, from the model config.
AttentionOptions encoder_attention_options(const ModelConfig& c);
AttentionOptions decoder_self_attention_options(const ModelConfig& c);  // causal, with the local window
AttentionOptions cross_attention_options(const ModelConfig& c);

class EncoderLayerImpl : public torch::nn::Module {
 public:
  explicit EncoderLayerImpl(const ModelConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding);  // x [B, S, D], padding [B, S]
  Attention self_attn{nullptr};
  FeedForward ffn{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};

 private:
  bool pre_norm_;
  double dropout_;
};
TORCH_MODULE(EncoderLayer);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& c, bool with_cross_attention);
  // Whole target: x [B, T, D]; memory [B, S, D] and its padding [B, S] (undefined for a language model).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory, const torch::Tensor& memory_padding);
  Attention self_attn{nullptr}, cross_attn{nullptr};
  FeedForward ffn{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};

 private:
  // x + dropout(f(norm(x))) or norm(x + dropout(f(x))), by norm placement.
  torch::Tensor residual(const torch::Tensor& x, torch::nn::LayerNorm& norm,
                         const std::function<torch::Tensor(const torch::Tensor&)>& f);
  bool pre_norm_;
  double dropout_;
};
TORCH_MODULE(DecoderLayer);

}  // namespace mqa
