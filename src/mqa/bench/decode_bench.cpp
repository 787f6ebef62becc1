#include "mqa/bench/decode_bench.h"

#include "mqa/bench/kernel_profile.h"
#include "mqa/decode/engine.h"
#include "mqa/decode/search.h"

namespace mqa::bench {

namespace {

SearchOptions fixed_length(const DecodeBenchOptions& o, torch::ScalarType precision) {
  SearchOptions s;
  s.beam_size = o.beams;
  s.nbest = o.beams;
  s.length_penalty = 0;  // scores = log-probabilities
  s.max_len_a = 0;
  s.max_len_b = o.target_len - 1;  // eos forced at step T-1 ...
  s.min_len = o.target_len - 1;    // ... and not allowed before
  s.keep_greedy_path = false;
  s.precision = precision;
  return s;
}

}  // namespace

DecodeBenchResult run_decode_bench(Transformer& model, const torch::Tensor& src, const DecodeBenchOptions& o) {
  TORCH_CHECK(o.beams >= 1 && o.target_len >= 1 && o.repeats >= 1 && o.check_every >= 1,
              "run_decode_bench: expected beams, target_len, repeats and check_every >= 1");
  const torch::ScalarType precision = model->parameters().front().scalar_type();
  EngineOptions eo = engine_options(precision);
  eo.cuda_graphs = o.cuda_graph;
  eo.check_every = o.check_every;
  DecodeEngine engine(model, eo);
  const SearchOptions so = fixed_length(o, precision);
  auto search = make_search(engine, so);
  DecodeBenchResult r;
  r.kernels = engine.kernel_path();
  for (int64_t i = 0; i < o.warmup; ++i) search->search(src);
  std::vector<double> enc_ms, dec_ms;
  for (int64_t i = 0; i < o.repeats; ++i) {
    SearchTimings t;
    r.outputs = search->search(src, &t);
    enc_ms.push_back(t.encode_ms);
    dec_ms.push_back(t.decode_ms);
    r.graph = t.graph;
  }
  r.encoder_ms = summarize(enc_ms);
  r.decoder_ms = summarize(dec_ms);
  r.graph_error = engine.graph_error();
  if (r.graph && o.check_graph) {
    EngineOptions eager = eo;
    eager.cuda_graphs = false;
    DecodeEngine plain(model, eager);
    auto reference = make_search(plain, so)->search(src);
    int64_t same = 0, total = 0;
    for (size_t b = 0; b < reference.size(); ++b)
      for (size_t k = 0; k < reference[b].size() && k < r.outputs[b].size(); ++k)
        for (size_t i = 0; i < reference[b][k].tokens.size() && i < r.outputs[b][k].tokens.size(); ++i, ++total)
          same += reference[b][k].tokens[i] == r.outputs[b][k].tokens[i];
    r.graph_eager_agreement = total > 0 ? static_cast<double>(same) / static_cast<double>(total) : 1.0;
  }
  if (!o.profile_trace.empty()) profile_kernels(src.device(), [&] { search->search(src); }, o.profile_trace);
  return r;
}

}  // namespace mqa::bench
