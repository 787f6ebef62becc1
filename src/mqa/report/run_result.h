// One finished row-run of scripts/table1.sh / scripts/table3.sh, read back from its run directory:
//   config.yaml  the resolved config, written by `mqa train` (the model shape comes from here);
//   result.json  written by the script when the run is done:
//     {"table": "table1", "row": CONFIG_NAME, "config": PATH, "seed": N, "params": N, "device": TEXT, "steps": N,
//      optional "converged": BOOL (stopped by train.stop_patience; absent: trained train.max_steps), "train_seconds": S, "row_seconds": S, "commands": [TEXT, ...],
//      "valid": <`mqa eval --split valid` JSON>, "test": <`mqa eval --split test` JSON>,
//      optional "wikitext103": <`mqa eval --text ...` JSON> (lm: per-word perplexity of WikiText-103 test)}
//     The valid evaluation may hold a "decode" list too (the real-data Table 1 decodes dev greedily for BLEU).
// JSON is read with yaml-cpp (JSON is YAML), so no second parser is needed.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "mqa/config/model_config.h"

namespace mqa {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

struct RunResult {
  std::string dir;
  std::string table;   // table1 | table3
  std::string row;     // the config's name (file name without .yaml); the seeds of one row share it
  std::string config_path;
  int64_t seed = 0;
  ModelConfig model;
  int64_t params = 0;
  std::string device;
  int64_t steps = 0;
  bool converged = false;  // stopped by train.stop_patience before train.max_steps
  double train_seconds = kMissing;  // wall time of `mqa train` (all its invocations, resumes included)
  double row_seconds = kMissing;    // train + average + evaluation
  // Evaluation of the averaged checkpoint. ln_ppl: nll per target token; word_ppl: per word of the raw text (lm).
  double valid_ln_ppl = kMissing, valid_word_ppl = kMissing;
  double test_ln_ppl = kMissing, test_word_ppl = kMissing;
  double wikitext_word_ppl = kMissing;  // lm: per word of WikiText-103 test (result.json "wikitext103")
  double valid_bleu_greedy = kMissing;  // seq2seq: dev BLEU of greedy decoding, when the dev evaluation decoded
  // seq2seq on the test split: BLEU of greedy decoding and of beam `beam_size` decoding.
  double bleu_greedy = kMissing, bleu_beam = kMissing;
  int64_t beam_size = 0;
  std::string bleu_signature;
  std::vector<std::string> commands;
  std::string data;  // where the run's text came from: data.train_source / data.train_text, else data.dir
};

// Reads RUN_DIR/result.json and RUN_DIR/config.yaml; throws std::runtime_error naming the file and what is wrong.
RunResult read_run_result(const std::string& run_dir);

}  // namespace mqa
