#include "mqa/config/schema.h"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "mqa/util/strings.h"

namespace mqa {

void declare_decode_keys(std::vector<KeyDef>& k) {
  using D = DecodeConfig;
  const auto S = &Config::decode;
  k.push_back(key("decode.beam_size", S, &D::beam_size, "beam width; 1 = greedy", range(1, 1024)));
  k.push_back(key("decode.length_penalty", S, &D::length_penalty,
                  "GNMT length penalty alpha: hypotheses are ranked by logprob / ((5 + length) / 6)^alpha",
                  range(0, 10)));
  k.push_back(key("decode.max_len_a", S, &D::max_len_a, "output length limit is a * source length + b",
                  range(0, 100)));
  k.push_back(key("decode.max_len_b", S, &D::max_len_b, "output length limit is a * source length + b",
                  range(0, 1 << 20)));
  k.push_back(key("decode.nbest", S, &D::nbest, "hypotheses printed per sentence (at most beam_size)",
                  range(1, 1024)));
  k.push_back(key("decode.keep_greedy_path", S, &D::keep_greedy_path,
                  "true: beam search keeps the greedy hypothesis among its beams (one more row), so beam k never "
                  "scores below greedy; false (default): textbook beam search, as fairseq's and the paper's"));
  k.push_back(key("decode.batch_tokens", S, &D::batch_tokens, "source tokens per decoding batch", range(1, 1 << 30)));
  k.push_back(key("decode.width_multiple", S, &D::width_multiple,
                  "a batch's source width is its longest source rounded up to a multiple of this (larger: fewer "
                  "batch shapes, so fewer CUDA graph captures, and more padding)",
                  range(1, 1 << 20)));
  k.push_back(key("decode.prepare_shapes", S, &D::prepare_shapes,
                  "with CUDA graphs: translate and eval allocate the buffers and capture the step of every batch "
                  "shape before the first batch (start-up time, reported apart from the translating time) and hold "
                  "them all; false (default): one shape at a time, prepared when its first batch comes (less GPU memory)"));
  k.push_back(key("decode.temperature", S, &D::temperature, "lm sampling temperature", range(1e-6, 1e6)));
  k.push_back(key("decode.top_k", S, &D::top_k, "lm sampling: keep the k most likely tokens; 0 = all",
                  range(0, 1 << 24)));
  k.push_back(key("decode.top_p", S, &D::top_p, "lm sampling: nucleus mass; 1 = all", range(1e-6, 1)));
}

Config with_overrides(const Config& base, const std::vector<std::string>& overrides,
                      const std::vector<std::string>& sections) {
  if (overrides.empty()) return base;
  for (const std::string& o : overrides) {
    const std::string name = trim(o.substr(0, o.find('=')));
    const std::string section = name.substr(0, name.find('.'));
    if (std::find(sections.begin(), sections.end(), section) == sections.end())
      throw ConfigError(fmt::format("--set {}: only keys of the sections {} may be changed here (the others describe "
                                    "the trained model)", o, join(sections, ", ")));
  }
  // The stored config goes back through load_config, so overrides are parsed, range-checked and cross-checked
  // exactly like on every other command.
  namespace fs = std::filesystem;
  std::random_device rd;
  const fs::path tmp = fs::temp_directory_path() / fmt::format("mqa_config_{}_{}.yaml", rd(), rd());
  {
    std::ofstream out(tmp);
    out << config_to_yaml(base);
    if (!out) throw ConfigError(fmt::format("{}: cannot write a temporary config file", tmp.string()));
  }
  try {
    Config c = load_config(tmp.string(), overrides).config;
    std::error_code ec;
    fs::remove(tmp, ec);
    return c;
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace mqa
