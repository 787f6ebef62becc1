// The model: one Transformer class serving both shapes of the paper.
//   seq2seq (model.type = seq2seq): Encoder + Decoder with cross-attention (WMT14 En-De).
//   lm      (model.type = lm):      Decoder only (LM1B).
// Every attention layer is an `Attention` (attention.h) configured by heads / kv_heads / d_k / d_v / window.
//
// Token conventions (data/batching.h): decoder input = [bos, y1 .. yn], decoder output = [y1 .. yn, eos],
// padding = pad_id (right padding only).
#pragma once
#include <torch/torch.h>

#include <vector>

#include "mqa/config/model_config.h"
#include "mqa/model/attention.h"
#include "mqa/model/layers.h"

namespace mqa {

// What the decoder needs from the encoder.
struct EncoderOutput {
  torch::Tensor memory;   // [B, S, d_model]
  torch::Tensor padding;  // [B, S] bool, true at padded source positions
};

class TransformerImpl : public torch::nn::Module {
 public:
  TransformerImpl(const ModelConfig& config, int64_t vocab_size, int64_t pad_id);

  bool is_seq2seq() const { return config_.type == "seq2seq"; }
  const ModelConfig& config() const { return config_; }
  int64_t vocab_size() const { return vocab_size_; }
  int64_t pad_id() const { return pad_id_; }

  // ---- whole sequences (training, scoring) ----
  EncoderOutput encode(const torch::Tensor& src);  // src [B, S] long
  // Teacher-forced decoder: tgt_in [B, T] long -> logits [B, T, V]. `enc` is null for lm.
  torch::Tensor decode(const torch::Tensor& tgt_in, const EncoderOutput* enc);
  // seq2seq: encode(src) then decode(tgt_in); lm: decode(tgt_in) (src is ignored and may be undefined).
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& tgt_in);

  // ---- what the decode engine (decode/engine.h) reads ----
  const torch::nn::Embedding& target_embedding() const { return tgt_embedding; }
  torch::Tensor position_table() const;  // [max_positions, d_model]: the learned or the sinusoidal positions
  const DecoderLayerImpl& decoder_layer(int64_t i) const { return *decoder_layers->ptr<DecoderLayerImpl>(i); }
  const torch::nn::LayerNorm& final_decoder_norm() const { return decoder_norm; }  // null for post-norm
  torch::Tensor output_weight() const;   // [V, d_model]: the target embedding when the output is tied

  // Parameter counts by component (embeddings, encoder attention, encoder ffn, decoder self-attention, ...).
  std::vector<std::pair<std::string, int64_t>> parameter_breakdown() const;

 private:
  // Token embedding (scaled by sqrt(d_model)) plus the position embedding of positions `positions` ([T] long).
  torch::Tensor embed(const torch::Tensor& tokens, const torch::Tensor& positions, torch::nn::Embedding& table);
  torch::Tensor output_logits(const torch::Tensor& x);

  ModelConfig config_;
  int64_t vocab_size_, pad_id_;
  torch::nn::Embedding src_embedding{nullptr}, tgt_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};  // learned positions
  torch::Tensor sinusoid_table;                       // [max_positions, d_model] buffer, sinusoidal positions
  torch::nn::ModuleList encoder_layers{nullptr}, decoder_layers{nullptr};
  torch::nn::LayerNorm encoder_norm{nullptr}, decoder_norm{nullptr};  // pre-norm: after the last layer
  torch::nn::Linear output_projection{nullptr};       // only when tie_output is false
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(Transformer);

}  // namespace mqa
