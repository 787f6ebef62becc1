#include "mqa/decode/greedy_search.h"

#include <fmt/format.h>

#include <optional>
#include <stdexcept>

#include "mqa/decode/beam_search.h"
#include "mqa/decode/search_common.h"
#include "mqa/util/timer.h"

namespace mqa {

// The device-side state of a batch: decode_ops::GreedyState, its pos / start / next being the batch's own tensors.
struct GreedySearch::State {
  decode_ops::GreedyState s;
};

GreedySearch::GreedySearch(DecodeEngine& engine, const SearchOptions& options) : engine_(engine), options_(options) {}
GreedySearch::~GreedySearch() = default;

std::vector<NBest> GreedySearch::search(const torch::Tensor& src, SearchTimings* timings) {
  return run(src, timings, 0);
}

void GreedySearch::warm_up(const torch::Tensor& src) { run(src, nullptr, 2); }

void GreedySearch::keep_shapes(size_t n) { shapes_.set_keep(n); }

std::vector<NBest> GreedySearch::run(const torch::Tensor& src, SearchTimings* timings, int64_t step_limit) {
  Transformer& model = engine_.model();
  detail::check_source(model, src, "greedy_search");
  const SearchOptions& o = options_;
  const int64_t B = src.size(0);
  std::vector<NBest> out(B);
  if (B == 0) return out;
  int64_t steps = 0;
  const std::vector<int64_t> eos_at =
      detail::forced_eos_steps(src, o, model->pad_id(), model->config().max_positions, steps);

  engine_.on_stream([&] {
    std::optional<Timer> timer;
    if (timings) timer.emplace(engine_.device()), timer->start();
    shapes_.select({B, steps, src.size(1)}, batch_, state_, graph_);  // a held shape: its buffers and graph
    if (!state_) state_ = std::make_unique<State>();
    engine_.start_sources(batch_, src, 1, steps, o.bos_id, /*beams=*/false);
    decode_ops::GreedyState& s = state_->s;
    if (!s.done.defined()) {
      const auto longs = batch_.pos.options();
      s.eos_at = torch::empty({B}, longs);
      s.done = torch::empty({B}, longs.dtype(torch::kBool));
      s.logprob = torch::empty({B}, longs.dtype(torch::kFloat64));
      s.length = torch::empty({B}, longs);
      s.out = torch::empty({steps, B}, longs);
    }
    s.pos = batch_.pos, s.start = batch_.start, s.next = batch_.tokens;
    s.pad = model->pad_id(), s.bos = o.bos_id, s.eos = o.eos_id, s.min_len = o.min_len;
    s.eos_at.copy_(detail::long_tensor(eos_at, engine_.device()));
    s.done.zero_();
    s.logprob.zero_();
    s.length.zero_();
    s.out.fill_(model->pad_id());
    if (timings) timings->encode_ms = timer->stop(), timer->start();

    const int64_t ran = engine_.run(
        batch_, graph_, [&] { decode_ops::greedy_pick(engine_.step(batch_), s); },
        [&](int64_t) { return s.done.all().item<bool>(); }, step_limit > 0 ? std::min(steps, step_limit) : steps);
    if (timings) timings->decode_ms = timer->stop(), timings->steps = ran, timings->graph = graph_ != nullptr;

    auto tokens = s.out.narrow(0, 0, ran).t().contiguous().cpu();  // [B, ran]
    auto length_t = s.length.cpu(), logprob_t = s.logprob.cpu();
    const auto length = length_t.accessor<int64_t, 1>();  // accessors: no dispatcher call per value (beam_search.cpp)
    const auto logprob = logprob_t.accessor<double, 1>();
    const int64_t* tokens_p = tokens.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      Hypothesis h;
      const int64_t len = length[b];
      const int64_t* row = tokens_p + b * ran;
      h.tokens.assign(row, row + len);
      h.logprob = logprob[b];
      h.score = h.logprob / gnmt_length_penalty(len + 1, o.length_penalty);
      out[b].push_back(std::move(h));
    }
  });
  return out;
}

std::unique_ptr<Search> make_search(DecodeEngine& engine, const SearchOptions& options) {
  if (options.beam_size == 1) return std::make_unique<GreedySearch>(engine, options);
  return std::make_unique<BeamSearch>(engine, options);
}

std::vector<NBest> greedy_search(Transformer& model, const torch::Tensor& src, const SearchOptions& options) {
  DecodeEngine engine(model, engine_options(options.precision));
  return GreedySearch(engine, options).search(src);
}

std::vector<Continuation> lm_greedy(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                    const GenerateOptions& options) {
  return continue_prompts(model, prompts, options, nullptr);
}

}  // namespace mqa
