// The `model:` section: Transformer sizes and the attention variant (see DESIGN.md, "Attention, the heart of it").
#pragma once
#include <string>

namespace mqa {

struct ModelConfig {
  std::string type = "seq2seq";     // seq2seq (encoder-decoder) | lm (decoder-only)
  int encoder_layers = 6;
  int decoder_layers = 6;
  int d_model = 1024;
  int heads = 8;                    // h: query heads
  int kv_heads = 8;                 // g: key/value heads; h = multi-head, 1 = multi-query, between = grouped
  int d_k = 128;
  int d_v = 128;
  int d_ff = 4096;
  int window = 0;                   // local decoder self-attention: sees itself and window-1 before; 0 = all
  double dropout = 0.1;             // on residual branches and embeddings
  double attention_dropout = 0.0;   // on attention weights
  double relu_dropout = 0.0;        // inside the feed-forward block
  std::string norm = "pre";         // pre | post
  std::string positions = "learned";  // learned | sinusoidal
  int max_positions = 1024;         // size of the position table; longest sequence the model can see
  bool share_embeddings = true;     // one embedding table for source and target (shared vocabulary)
  bool tie_output = true;           // output projection reuses the target embedding
  int vocab_size = 0;               // 0 = take it from the vocabulary in data.dir
};

}  // namespace mqa
