// `mqa params CONFIG [CONFIG...] [--match BASE]`: parameters per component and in total, the K/V cache bytes a
// decoder layer keeps per token, and the d_ff that would give each config the same total as BASE (the paper
// raises d_ff for multi-query and reduced-head rows to keep the totals equal).
#include <torch/torch.h>

#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "mqa/config/config.h"
#include "mqa/model/transformer.h"

namespace {

struct Sized {
  std::string path;
  mqa::Config config;
  int64_t vocab = 0;
  std::vector<std::pair<std::string, int64_t>> parts;
  int64_t total = 0;
};

// The vocabulary size a config trains with: model.vocab_size when set, else data.vocab_size.
Sized size_of(const std::string& path, const std::vector<std::string>& overrides) {
  Sized s;
  s.path = path;
  s.config = mqa::load_config(path, overrides).config;
  s.vocab = s.config.model.vocab_size > 0 ? s.config.model.vocab_size : s.config.data.vocab_size;
  torch::NoGradGuard no_grad;
  mqa::Transformer model(s.config.model, s.vocab, 0);
  s.parts = model->parameter_breakdown();
  for (auto& p : s.parts) s.total += p.second;
  return s;
}

int64_t ffn_blocks(const mqa::ModelConfig& m) { return (m.type == "seq2seq" ? m.encoder_layers : 0) + m.decoder_layers; }

// Total parameters are linear in d_ff: each feed-forward block holds 2 * d_model * d_ff weights, d_ff + d_model
// biases. Solve for the d_ff that gives `target`.
double matching_d_ff(const Sized& s, int64_t target) {
  const auto& m = s.config.model;
  const double n = static_cast<double>(ffn_blocks(m)), d = m.d_model;
  const double fixed = s.total - n * (2 * d * m.d_ff + m.d_ff + d);
  return (target - fixed - n * d) / (n * (2 * d + 1));
}

std::string millions(int64_t n) { return fmt::format("{:.2f}M", n / 1e6); }

}  // namespace

static void setup_params(CLI::App& app) {
  auto* cmd = app.add_subcommand("params", "parameter counts, K/V cache bytes per token, and d_ff for equal size");
  static std::vector<std::string> paths, overrides;
  static std::string match;
  cmd->add_option("configs", paths, "config files")->required();
  cmd->add_option("--set", overrides, "override a key in every config: section.key=value")->take_all();
  cmd->add_option("--match", match, "baseline config: print the d_ff that gives each config its parameter total");
  cmd->callback([] {
    std::vector<Sized> all;
    for (const auto& p : paths) all.push_back(size_of(p, overrides));
    std::optional<Sized> base;
    if (!match.empty()) base = size_of(match, overrides);

    for (const auto& s : all) {
      const auto& m = s.config.model;
      std::cout << fmt::format("{}  ({}, vocabulary {}, d_model {}, h {}, kv_heads {}, d_k {}, d_v {}, d_ff {}{})\n",
                               s.path, m.type, s.vocab, m.d_model, m.heads, m.kv_heads, m.d_k, m.d_v, m.d_ff,
                               m.window ? fmt::format(", window {}", m.window) : "");
      for (const auto& [name, n] : s.parts)
        std::cout << fmt::format("  {:<30} {:>14} {:>6.1f}%\n", name, n, 100.0 * n / s.total);
      std::cout << fmt::format("  {:<30} {:>14}\n", "total", s.total);
      // Per decoder layer, what incremental decoding keeps per token: its key and value (self-attention: per
      // generated token; encoder-decoder attention: per source token).
      const int64_t per_token = static_cast<int64_t>(m.kv_heads) * (m.d_k + m.d_v);
      std::cout << fmt::format("  K/V cache per token per decoder layer: {} values = {} bytes bf16, {} bytes fp32\n",
                               per_token, 2 * per_token, 4 * per_token);
      if (base) {
        double ff = matching_d_ff(s, base->total);
        std::cout << fmt::format("  d_ff for the {} total of {}: {:.1f} (now {})\n", millions(base->total),
                                 base->path, ff, m.d_ff);
      }
      std::cout << "\n";
    }
    if (all.size() > 1) {
      std::cout << fmt::format("{:<40} {:>3} {:>3} {:>4} {:>4} {:>6} {:>6} {:>10} {:>12}\n", "config", "h", "g",
                               "d_k", "d_v", "d_ff", "window", "params", "KV B/tok/lyr");
      for (const auto& s : all) {
        const auto& m = s.config.model;
        std::cout << fmt::format("{:<40} {:>3} {:>3} {:>4} {:>4} {:>6} {:>6} {:>10} {:>12}\n", s.path, m.heads,
                                 m.kv_heads, m.d_k, m.d_v, m.d_ff, m.window, millions(s.total),
                                 2 * m.kv_heads * (m.d_k + m.d_v));
      }
      std::cout << "(KV bytes in bf16)\n";
    }
  });
}
MQA_COMMAND(params, setup_params);
