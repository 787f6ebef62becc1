#include "mqa/model/transformer.h"

#include <cmath>

#include "mqa/util/autocast_state.h"

namespace mqa {

namespace {
// Sinusoidal position table [n, d] (Vaswani et al.): sin on even, cos on odd dimensions.
torch::Tensor sinusoids(int64_t n, int64_t d) {
  auto pos = torch::arange(n, torch::kFloat32).unsqueeze(1);                                  // [n, 1]
  auto i = torch::arange(0, d, 2, torch::kFloat32);                                           // [d/2]
  auto freq = torch::exp(i * (-std::log(10000.0) / static_cast<double>(d)));                  // [d/2]
  auto table = torch::zeros({n, d});
  table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, 2)}, torch::sin(pos * freq));
  auto cos = torch::cos(pos * freq);
  table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, torch::indexing::None, 2)},
                   cos.narrow(1, 0, d / 2));
  return table;
}
}  // namespace

TransformerImpl::TransformerImpl(const ModelConfig& c, int64_t vocab_size, int64_t pad_id)
    : config_(c), vocab_size_(vocab_size), pad_id_(pad_id) {
  TORCH_CHECK(vocab_size > 0, "Transformer: vocabulary size must be positive");
  TORCH_CHECK(c.heads % c.kv_heads == 0, "Transformer: model.kv_heads must divide model.heads");
  const int64_t d = c.d_model;
  tgt_embedding = register_module("tgt_embedding", torch::nn::Embedding(vocab_size, d));
  // Embeddings start at std d^-1/2 and are scaled by sqrt(d) on input: unit-variance inputs, and well-scaled
  // logits when the same matrix is the output projection (tensor2tensor's convention).
  torch::nn::init::normal_(tgt_embedding->weight, 0.0, std::pow(static_cast<double>(d), -0.5));
  if (is_seq2seq()) {
    if (c.share_embeddings) {
      src_embedding = tgt_embedding;
    } else {
      src_embedding = register_module("src_embedding", torch::nn::Embedding(vocab_size, d));
      torch::nn::init::normal_(src_embedding->weight, 0.0, std::pow(static_cast<double>(d), -0.5));
    }
  }
  if (c.positions == "learned") {
    position_embedding = register_module("position_embedding", torch::nn::Embedding(c.max_positions, d));
    torch::nn::init::normal_(position_embedding->weight, 0.0, std::pow(static_cast<double>(d), -0.5));
  } else {
    sinusoid_table = register_buffer("sinusoid_table", sinusoids(c.max_positions, d));
  }
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));

  const bool pre = c.norm == "pre";
  if (is_seq2seq()) {
    encoder_layers = register_module("encoder_layers", torch::nn::ModuleList());
    for (int i = 0; i < c.encoder_layers; ++i) encoder_layers->push_back(EncoderLayer(c));
    if (pre) encoder_norm = register_module("encoder_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  }
  decoder_layers = register_module("decoder_layers", torch::nn::ModuleList());
  for (int i = 0; i < c.decoder_layers; ++i) decoder_layers->push_back(DecoderLayer(c, is_seq2seq()));
  if (pre) decoder_norm = register_module("decoder_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  if (!c.tie_output)
    output_projection =
        register_module("output_projection", torch::nn::Linear(torch::nn::LinearOptions(d, vocab_size).bias(false)));
}

torch::Tensor TransformerImpl::embed(const torch::Tensor& tokens, const torch::Tensor& positions,
                                     torch::nn::Embedding& table) {
  // tokens [B, T], positions [T] -> [B, T, D]
  TORCH_CHECK(tokens.size(1) <= config_.max_positions || positions.size(0) == 1, "sequence of ", tokens.size(1),
              " tokens is longer than model.max_positions (", config_.max_positions, ")");
  auto x = table(tokens) * std::sqrt(static_cast<double>(config_.d_model));
  auto pos = position_embedding ? position_embedding->weight.index_select(0, positions)
                                : sinusoid_table.index_select(0, positions);
  // The residual stream starts here: in bf16 under autocast with train.bf16_residual (util/autocast_state.h).
  return dropout(autocast_residual(x + pos.unsqueeze(0).to(x.scalar_type())));
}

torch::Tensor TransformerImpl::output_logits(const torch::Tensor& x) {
  // Under autocast the weight comes from autocast's cache of cast weights (one bf16 copy per region or step:
  // train/autocast.h); the cast of the tied embedding's transposed view below would be made afresh each time.
  if (output_projection) return autocast_linear(output_projection, x);
  if (autocast_enabled(x.device().type()))
    return torch::nn::functional::linear(cast_for_autocast(x), autocast_weight(tgt_embedding->weight));
  return torch::matmul(x, tgt_embedding->weight.t().to(x.scalar_type()));  // tied: [.., D] x [D, V]
}

EncoderOutput TransformerImpl::encode(const torch::Tensor& src) {
  TORCH_CHECK(is_seq2seq(), "encode() needs model.type seq2seq");
  EncoderOutput out;
  out.padding = src.eq(pad_id_);  // [B, S]
  auto x = embed(src, torch::arange(src.size(1), src.options()), src_embedding);
  for (auto& layer : *encoder_layers) x = layer->as<EncoderLayer>()->forward(x, out.padding);
  out.memory = encoder_norm ? autocast_layer_norm(encoder_norm, x) : x;
  return out;
}

torch::Tensor TransformerImpl::decode(const torch::Tensor& tgt_in, const EncoderOutput* enc) {
  TORCH_CHECK(is_seq2seq() == (enc != nullptr), "decode(): seq2seq needs the encoder output, lm takes none");
  auto x = embed(tgt_in, torch::arange(tgt_in.size(1), tgt_in.options()), tgt_embedding);
  torch::Tensor memory, padding;
  if (enc) memory = enc->memory, padding = enc->padding;
  for (auto& layer : *decoder_layers) x = layer->as<DecoderLayer>()->forward(x, memory, padding);
  if (decoder_norm) x = autocast_layer_norm(decoder_norm, x);
  return output_logits(x);  // [B, T, V]
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& src, const torch::Tensor& tgt_in) {
  if (!is_seq2seq()) return decode(tgt_in, nullptr);
  auto enc = encode(src);
  return decode(tgt_in, &enc);
}

torch::Tensor TransformerImpl::position_table() const {
  return position_embedding ? position_embedding->weight : sinusoid_table;
}

torch::Tensor TransformerImpl::output_weight() const {
  return output_projection ? output_projection->weight : tgt_embedding->weight;
}

std::vector<std::pair<std::string, int64_t>> TransformerImpl::parameter_breakdown() const {
  // Components in a fixed order; each parameter lands in the first whose name pattern it matches.
  const std::vector<std::pair<std::string, std::vector<std::string>>> groups = {
      {"embeddings (tokens, shared)", {"tgt_embedding.", "src_embedding."}},
      {"positions", {"position_embedding."}},
      {"encoder self-attention", {"encoder_layers.*.self_attn."}},
      {"encoder feed-forward", {"encoder_layers.*.ffn."}},
      {"encoder norms", {"encoder_layers.*.norm", "encoder_norm."}},
      {"decoder self-attention", {"decoder_layers.*.self_attn."}},
      {"decoder cross-attention", {"decoder_layers.*.cross_attn."}},
      {"decoder feed-forward", {"decoder_layers.*.ffn."}},
      {"decoder norms", {"decoder_layers.*.norm", "decoder_norm."}},
      {"output projection (untied)", {"output_projection."}},
  };
  auto matches = [](const std::string& name, const std::string& pattern) {
    auto star = pattern.find('*');
    if (star == std::string::npos) return name.compare(0, pattern.size(), pattern) == 0;
    const std::string head = pattern.substr(0, star), tail = pattern.substr(star + 2);  // "a.*.b" -> "a.", "b"
    if (name.compare(0, head.size(), head) != 0) return false;
    auto dot = name.find('.', head.size());
    return dot != std::string::npos && name.compare(dot + 1, tail.size(), tail) == 0;
  };
  std::vector<std::pair<std::string, int64_t>> counts;
  for (const auto& g : groups) counts.emplace_back(g.first, 0);
  for (const auto& p : named_parameters(true)) {
    bool placed = false;
    for (size_t i = 0; i < groups.size() && !placed; ++i)
      for (const auto& pattern : groups[i].second)
        if (matches(p.key(), pattern)) {
          counts[i].second += p.value().numel();
          placed = true;
          break;
        }
    TORCH_CHECK(placed, "parameter_breakdown: unclassified parameter ", p.key());
  }
  std::vector<std::pair<std::string, int64_t>> nonzero;
  for (auto& c : counts)
    if (c.second > 0) nonzero.push_back(c);
  return nonzero;
}

}  // namespace mqa
