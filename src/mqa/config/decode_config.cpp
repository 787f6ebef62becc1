#include "mqa/config/schema.h"

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
  k.push_back(key("decode.batch_tokens", S, &D::batch_tokens, "source tokens per decoding batch", range(1, 1 << 30)));
  k.push_back(key("decode.temperature", S, &D::temperature, "lm sampling temperature", range(1e-6, 1e6)));
  k.push_back(key("decode.top_k", S, &D::top_k, "lm sampling: keep the k most likely tokens; 0 = all",
                  range(0, 1 << 24)));
  k.push_back(key("decode.top_p", S, &D::top_p, "lm sampling: nucleus mass; 1 = all", range(1e-6, 1)));
}

}  // namespace mqa
