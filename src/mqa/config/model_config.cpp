#include "mqa/config/schema.h"

namespace mqa {

void declare_model_keys(std::vector<KeyDef>& k) {
  using M = ModelConfig;
  const auto S = &Config::model;
  k.push_back(key("model.type", S, &M::type, "seq2seq: encoder-decoder (translation); lm: decoder-only language model",
                  one_of({"seq2seq", "lm"})));
  k.push_back(key("model.encoder_layers", S, &M::encoder_layers, "encoder layers (seq2seq only)", range(1, 256)));
  k.push_back(key("model.decoder_layers", S, &M::decoder_layers, "decoder layers", range(1, 256)));
  k.push_back(key("model.d_model", S, &M::d_model, "width of the residual stream and embeddings", range(1, 65536)));
  k.push_back(key("model.heads", S, &M::heads, "h: query heads of every attention layer", range(1, 1024)));
  k.push_back(key("model.kv_heads", S, &M::kv_heads,
                  "g: key/value heads; = heads is multi-head, 1 is multi-query, between is grouped-query; "
                  "must divide heads", range(1, 1024)));
  k.push_back(key("model.d_k", S, &M::d_k, "query/key dimension per head", range(1, 4096)));
  k.push_back(key("model.d_v", S, &M::d_v, "value dimension per head", range(1, 4096)));
  k.push_back(key("model.d_ff", S, &M::d_ff, "hidden width of the feed-forward blocks", range(1, 1 << 20)));
  k.push_back(key("model.window", S, &M::window,
                  "local attention: a decoder position attends to itself and the window-1 before it; 0 = unlimited",
                  range(0, 1 << 20)));
  k.push_back(key("model.dropout", S, &M::dropout, "dropout on embeddings and residual branches", range(0, 0.95)));
  k.push_back(key("model.attention_dropout", S, &M::attention_dropout, "dropout on attention weights",
                  range(0, 0.95)));
  k.push_back(key("model.relu_dropout", S, &M::relu_dropout, "dropout inside the feed-forward block",
                  range(0, 0.95)));
  k.push_back(key("model.norm", S, &M::norm,
                  "layer norm placement: pre (before each sublayer; trains stably without long warmup) or post "
                  "(the original Transformer)", one_of({"pre", "post"})));
  k.push_back(key("model.positions", S, &M::positions, "position embeddings: learned (the paper's) or sinusoidal",
                  one_of({"learned", "sinusoidal"})));
  k.push_back(key("model.max_positions", S, &M::max_positions, "longest sequence the model accepts",
                  range(1, 1 << 20)));
  k.push_back(key("model.share_embeddings", S, &M::share_embeddings,
                  "one embedding table for source and target (needs a shared vocabulary)"));
  k.push_back(key("model.tie_output", S, &M::tie_output, "the output projection reuses the target embedding"));
  k.push_back(key("model.vocab_size", S, &M::vocab_size, "vocabulary size; 0 = read it from the vocabulary",
                  range(0, 1 << 24)));
}

}  // namespace mqa
