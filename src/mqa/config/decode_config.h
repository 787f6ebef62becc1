// The `decode:` section: search and sampling.
#pragma once
#include <string>

namespace mqa {

struct DecodeConfig {
  int beam_size = 4;                  // 1 = greedy
  double length_penalty = 0.6;        // GNMT alpha: score / ((5 + len) / 6)^alpha
  double max_len_a = 1.2;             // output length limit: a * source_length + b
  int max_len_b = 10;
  int nbest = 1;
  int batch_tokens = 4096;            // source tokens per decoding batch
  double temperature = 1.0;           // lm sampling
  int top_k = 0;                      // 0 = off
  double top_p = 1.0;                 // 1 = off
};

}  // namespace mqa
