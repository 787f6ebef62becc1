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
#include "mqa/model/kv_cache.h"
#include "mqa/model/layers.h"

namespace mqa {

// What the decoder needs from the encoder.
struct EncoderOutput {
  torch::Tensor memory;   // [B, S, d_model]
  torch::Tensor padding;  // [B, S] bool, true at padded source positions
};

// Incremental decoding state. Rows N = sources B * beams; row r belongs to source r / beams.
struct DecodeState {
  std::vector<KVCache> self;           // per decoder layer, [N, g, max_len, d]
  std::vector<torch::Tensor> cross_k;  // per decoder layer, [B, g, S, d_k]: computed once, shared by a source's beams
  std::vector<torch::Tensor> cross_v;  // per decoder layer, [B, g, S, d_v]
  torch::Tensor src_padding;           // [B, S] bool
  torch::Tensor pos_tensor;            // [1] long on the model's device: the position step() writes next
  int64_t pos = 0;                     // the same position on the host
  int64_t beams = 1;
  int64_t bucket = 1;                  // self-attention read granularity (see Attention::step_self)
  int64_t rows() const { return self.empty() ? 0 : self[0].k.size(0); }
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

  // ---- incremental decoding ----
  // Allocates caches for `rows` = B * beams hypotheses of up to max_len positions; for seq2seq, computes the
  // cross-attention keys/values of each source once. For lm pass enc = null and batch = number of sequences.
  DecodeState start(const EncoderOutput* enc, int64_t batch, int64_t max_len, int64_t beams = 1);
  // Feeds one token per row (tokens [N] long) at state.pos, returns logits [N, V] and advances pos.
  torch::Tensor step(DecodeState& state, const torch::Tensor& tokens);
  // Reorders / shrinks the hypotheses: rows [N'] indexes the current rows (beam search survivors); sources [B']
  // (optional) selects the sources kept when finished sentences leave the batch. N' must be B' * beams.
  void reorder(DecodeState& state, const torch::Tensor& rows, const torch::Tensor& sources = {});
  // Beam reorder that keeps every buffer's storage (for captured CUDA graphs): rows [N] (N = state.rows(), repeats
  // allowed) selects, for each row, the row whose history it continues. Moves only the cache positions a later
  // step may still read: up to the end of the bucket of the last written position (state.pos - 1), from the start
  // of the local window (rounded down to the bucket). Depends on the host position only through pos / bucket.
  void reorder_in_place(DecodeState& state, const torch::Tensor& rows);
  // Recomputes the cross-attention keys/values and source padding of a new encoder output (same batch and source
  // length) into the state's existing tensors, so that a captured graph that reads them sees the new source.
  void refill_source(DecodeState& state, const EncoderOutput& enc);

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
