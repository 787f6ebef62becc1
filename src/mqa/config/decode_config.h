// The `decode:` section: search and sampling.
#pragma once
#include <string>
#include <vector>

namespace mqa {

struct Config;

struct DecodeConfig {
  int beam_size = 4;                  // 1 = greedy
  double length_penalty = 0.6;        // GNMT alpha: score / ((5 + len) / 6)^alpha
  double max_len_a = 1.2;             // output length limit: a * source_length + b
  int max_len_b = 10;
  int nbest = 1;
  bool keep_greedy_path = false;      // true: beam search keeps the greedy hypothesis alive (never below greedy)
  int batch_tokens = 4096;            // source tokens per decoding batch
  // A batch's source width (its longest source) rounded up to a multiple of this: larger gives fewer distinct batch
  // shapes, each of which costs a CUDA graph capture and first-use setup, for more padding.
  int width_multiple = 8;
  // CUDA graphs: translate and eval prepare every batch shape (buffers, captured step) before the first batch and
  // hold them all (more GPU memory); false: one shape at a time, prepared when its first batch comes. Off by default
  // until measured on the GPU (issue 14; scripts/translate_throughput.sh runs both).
  bool prepare_shapes = false;
  double temperature = 1.0;           // lm sampling
  int top_k = 0;                      // 0 = off
  double top_p = 1.0;                 // 1 = off
};

// A stored config (a checkpoint's) with `section.key=value` overrides applied and checked like `--set` on any
// command (errors are ConfigError naming "--set" and the key). Only keys of `sections` may be overridden (e.g.
// {"decode", "data"}): the others describe the trained model and changing them would be an error.
Config with_overrides(const Config& base, const std::vector<std::string>& overrides,
                      const std::vector<std::string>& sections);

}  // namespace mqa
