#include "mqa/report/run_result.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "mqa/config/config.h"

namespace mqa {
namespace {

namespace fs = std::filesystem;

// A number that may be null or absent (e.g. word_ppl when the raw text was missing): NaN then.
double number_or_missing(const YAML::Node& node, const std::string& key) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) return kMissing;
  return v.as<double>();
}

template <typename T>
T required(const YAML::Node& node, const std::string& key, const std::string& where) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) throw std::runtime_error(fmt::format("{}: missing \"{}\"", where, key));
  try {
    return v.as<T>();
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(fmt::format("{}: \"{}\": {}", where, key, e.what()));
  }
}

}  // namespace

RunResult read_run_result(const std::string& run_dir) {
  const std::string result_path = (fs::path(run_dir) / "result.json").string();
  const std::string config_path = (fs::path(run_dir) / "config.yaml").string();
  if (!fs::exists(result_path))
    throw std::runtime_error(fmt::format("{}: no result.json (the run has not finished: train, average and eval "
                                         "write it last)", run_dir));
  YAML::Node root;
  try {
    root = YAML::LoadFile(result_path);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", result_path, e.what()));
  }
  if (!root.IsMap()) throw std::runtime_error(fmt::format("{}: expected a JSON object", result_path));

  RunResult r;
  r.dir = run_dir;
  r.table = required<std::string>(root, "table", result_path);
  r.row = required<std::string>(root, "row", result_path);
  r.config_path = root["config"] ? root["config"].as<std::string>() : "";
  r.seed = required<int64_t>(root, "seed", result_path);
  r.params = required<int64_t>(root, "params", result_path);
  r.device = root["device"] ? root["device"].as<std::string>() : "";
  r.steps = required<int64_t>(root, "steps", result_path);
  r.converged = root["converged"] && root["converged"].as<bool>();
  r.train_seconds = number_or_missing(root, "train_seconds");
  r.row_seconds = number_or_missing(root, "row_seconds");
  if (root["commands"] && root["commands"].IsSequence())
    for (const auto& c : root["commands"]) r.commands.push_back(c.as<std::string>());

  const YAML::Node valid = root["valid"];
  if (!valid || !valid.IsMap()) throw std::runtime_error(fmt::format("{}: missing the \"valid\" evaluation", result_path));
  r.valid_ln_ppl = required<double>(valid, "ln_ppl", result_path + " valid");
  r.valid_word_ppl = number_or_missing(valid, "word_ppl");
  if (valid["decode"] && valid["decode"].IsSequence())
    for (const auto& d : valid["decode"])
      if (required<int64_t>(d, "beam", result_path + " valid.decode") == 1)
        r.valid_bleu_greedy = number_or_missing(d, "bleu");
  const YAML::Node test = root["test"];
  if (test && test.IsMap()) {
    r.test_ln_ppl = number_or_missing(test, "ln_ppl");
    r.test_word_ppl = number_or_missing(test, "word_ppl");
    // seq2seq: one entry per beam size; beam 1 is greedy, the largest the configured beam.
    if (test["decode"] && test["decode"].IsSequence()) {
      for (const auto& d : test["decode"]) {
        const int64_t beam = required<int64_t>(d, "beam", result_path + " test.decode");
        const double bleu = number_or_missing(d, "bleu");
        if (beam == 1) {
          r.bleu_greedy = bleu;
        } else if (beam > r.beam_size) {
          r.beam_size = beam;
          r.bleu_beam = bleu;
        }
        if (d["bleu_signature"]) r.bleu_signature = d["bleu_signature"].as<std::string>();
      }
    }
  }
  const YAML::Node wikitext = root["wikitext103"];
  if (wikitext && wikitext.IsMap()) r.wikitext_word_ppl = number_or_missing(wikitext, "word_ppl");

  if (!fs::exists(config_path))
    throw std::runtime_error(fmt::format("{}: no config.yaml (written by mqa train)", run_dir));
  const Config config = load_config(config_path).config;
  r.model = config.model;
  const std::string& text = config.model.type == "lm" ? config.data.train_text : config.data.train_source;
  r.data = text.empty() ? config.data.dir : fs::path(text).parent_path().string();
  return r;
}

}  // namespace mqa
