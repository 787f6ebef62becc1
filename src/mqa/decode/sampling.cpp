#include "mqa/decode/sampling.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <stdexcept>

#include "mqa/decode/engine.h"
#include "mqa/decode/search_common.h"

namespace mqa {

GenerateOptions generate_options(const DecodeConfig& c) {
  GenerateOptions o;
  o.temperature = c.temperature;
  o.top_k = c.top_k;
  o.top_p = c.top_p;
  return o;
}

std::vector<Continuation> continue_prompts(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& o, const TokenChooser& choose) {
  if (model->is_seq2seq()) throw std::invalid_argument("continue_prompts: the model is seq2seq, not a language model");
  const int64_t B = static_cast<int64_t>(prompts.size());
  const int64_t max_positions = model->config().max_positions;
  std::vector<Continuation> out(B);
  if (B == 0 || o.max_new_tokens <= 0) return out;

  // Per row: the fed tokens (start token + prompt, P of them at positions 0 .. P-1), and the last step t whose token
  // is still wanted: new token t is fed back at position P + t, which must lie below max_positions unless t is the
  // last step.
  std::vector<std::vector<int64_t>> fed(B);
  std::vector<int64_t> stop_at(B);
  int64_t steps = 0, max_len = 0;
  for (int64_t b = 0; b < B; ++b) {
    if (o.start_id >= 0) fed[b].push_back(o.start_id);
    fed[b].insert(fed[b].end(), prompts[b].begin(), prompts[b].end());
    const auto P = static_cast<int64_t>(fed[b].size());
    if (P == 0)
      throw std::invalid_argument(fmt::format("continue_prompts: prompt {} is empty and start_id is -1", b));
    if (P > max_positions)
      throw std::invalid_argument(fmt::format("continue_prompts: prompt {} has {} tokens, more than model.max_positions "
                                              "({})", b, P, max_positions));
    stop_at[b] = std::min(o.max_new_tokens - 1, max_positions - P);
    steps = std::max(steps, stop_at[b] + 1);
    max_len = std::max(max_len, P + stop_at[b]);
  }

  EngineOptions eo = engine_options(o.precision);
  if (o.on_token) eo.check_every = 1;
  DecodeEngine engine(model, eo);
  const torch::Device device = engine.device();
  engine.on_stream([&] {
    DecodeBatch batch;
    torch::Tensor logits = engine.start_prompts(batch, fed, max_len);  // [N, V] after each prompt
    decode_ops::GreedyState s;
    const auto longs = batch.pos.options();
    s.pos = batch.pos, s.start = batch.start, s.next = batch.tokens;
    s.pad = model->pad_id(), s.bos = o.bos_id, s.eos = o.eos_id;
    s.stop_at = detail::long_tensor(stop_at, device);
    s.done = torch::zeros({B}, longs.dtype(torch::kBool));
    s.logprob = torch::zeros({B}, longs.dtype(torch::kFloat64));
    s.length = torch::zeros({B}, longs);
    s.out = torch::full({steps, B}, model->pad_id(), longs);
    auto no_forced_eos = torch::zeros({B}, longs.dtype(torch::kBool));
    auto choose_from = [&](const torch::Tensor& step_logits) {
      if (!choose) return decode_ops::greedy_pick(step_logits, s);
      auto lp = detail::next_token_logprobs(step_logits, no_forced_eos, model->pad_id(), o.bos_id, o.eos_id);
      auto token = choose(lp, s.pos - s.start).to(torch::kLong);                           // [N]
      decode_ops::commit_choice(s, token, lp.gather(1, token.unsqueeze(1)).squeeze(1).to(torch::kFloat64));
    };
    // Streaming: the tokens of steps [emitted, t) of rows still going (or that ended after them).
    int64_t emitted = 0;
    auto stop = [&](int64_t t) {
      if (o.on_token && t > emitted) {
        auto tokens_t = s.out.narrow(0, emitted, t - emitted).cpu();
        auto done_t = s.done.cpu(), length_t = s.length.cpu();
        const auto tokens = tokens_t.accessor<int64_t, 2>();  // accessors: no dispatcher call per value
        const auto done = done_t.accessor<bool, 1>();
        const auto length = length_t.accessor<int64_t, 1>();
        for (int64_t i = emitted; i < t; ++i)
          for (int64_t b = 0; b < B; ++b)
            if (!done[b] || i < length[b]) o.on_token(b, tokens[i - emitted][b]);
        emitted = t;
      }
      return s.done.all().item<bool>();
    };
    choose_from(logits);  // the first new token, from the prefill's logits
    ++batch.host.min_pos, ++batch.host.max_pos;
    std::unique_ptr<GraphSet> graph;
    int64_t ran = 1;
    if (!stop(1)) ran += engine.run(batch, graph, [&] { choose_from(engine.step(batch)); },
                                    [&](int64_t t) { return stop(t + 1); }, steps - 1);
    auto tokens = s.out.narrow(0, 0, ran).t().contiguous().cpu();  // [B, ran]
    auto length_t = s.length.cpu(), logprob_t = s.logprob.cpu();
    const auto length = length_t.accessor<int64_t, 1>();  // as greedy_search.cpp reads its rows back
    const auto logprob = logprob_t.accessor<double, 1>();
    const int64_t* tokens_p = tokens.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = length[b];
      const int64_t* row = tokens_p + b * ran;
      out[b].tokens.assign(row, row + len);
      out[b].ended_with_eos = len < ran && row[len] == o.eos_id;
      out[b].logprob = logprob[b];
    }
  });
  return out;
}

torch::Tensor filtered_probabilities(const torch::Tensor& logits, double temperature, int64_t top_k, double top_p) {
  if (!(temperature > 0)) throw std::invalid_argument(fmt::format("sampling: temperature {} must be > 0", temperature));
  if (top_k < 0) throw std::invalid_argument(fmt::format("sampling: top_k {} must be >= 0", top_k));
  if (!(top_p > 0 && top_p <= 1)) throw std::invalid_argument(fmt::format("sampling: top_p {} must be in (0, 1]", top_p));
  const float ninf = -std::numeric_limits<float>::infinity();
  torch::Tensor x = logits.to(torch::kFloat) / temperature;  // [N, V]
  const int64_t V = x.size(1);
  if (top_k > 0 && top_k < V) {
    torch::Tensor kth = std::get<0>(x.topk(top_k, 1)).narrow(1, top_k - 1, 1);  // [N, 1]
    x = x.masked_fill(x < kth, ninf);
  }
  torch::Tensor probs = torch::softmax(x, -1);
  if (top_p < 1.0) {
    auto [sorted, order] = probs.sort(1, /*descending=*/true);  // [N, V]
    // Drop a token when the tokens before it already reach top_p (the most likely token is always kept).
    torch::Tensor before = sorted.cumsum(1) - sorted;
    torch::Tensor drop_sorted = before >= top_p;
    torch::Tensor drop = torch::zeros_like(drop_sorted).scatter(1, order, drop_sorted);
    probs = probs.masked_fill(drop, 0.0);
    probs = probs / probs.sum(1, /*keepdim=*/true);
  }
  return probs;
}

std::vector<Continuation> sample(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                 const GenerateOptions& o) {
  // Validate once, before any work.
  (void)filtered_probabilities(torch::zeros({1, 2}), o.temperature, o.top_k, o.top_p);
  // Every draw made on the host up front ([steps, N], at most max_new_tokens steps), so that the same seed gives the
  // same tokens on every device and the loop needs no host round trip.
  const auto rows = static_cast<int64_t>(prompts.size());
  const int64_t steps = std::max<int64_t>(o.max_new_tokens, 0);
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> draws(steps * rows);
  for (auto& x : draws) x = uniform(rng);
  torch::Tensor uniforms;  // [steps, N] on the model's device, made on first use
  return continue_prompts(model, prompts, o, [&](const torch::Tensor& lp, const torch::Tensor& t) {
    if (!uniforms.defined())
      uniforms = torch::tensor(draws, torch::kFloat64).view({steps, rows}).to(lp.device(), torch::kFloat32);
    torch::Tensor probs = filtered_probabilities(lp, o.temperature, o.top_k, o.top_p);  // [N, V]
    const int64_t V = probs.size(1);
    auto u = uniforms.index({t.clamp_max(steps - 1), torch::arange(rows, t.options())});  // [N]
    // Inverse-CDF draw.
    torch::Tensor cdf = probs.cumsum(1);                                                 // [N, V]
    torch::Tensor idx = cdf.lt(u.unsqueeze(1) * cdf.narrow(1, V - 1, 1)).sum(1).clamp_max(V - 1);  // [N]
    // Never land on a zero-probability token through rounding: step back to the last kept one.
    torch::Tensor kept = probs.gt(0);
    torch::Tensor pos = torch::arange(V, idx.options()).unsqueeze(0).expand_as(probs);
    torch::Tensor last_kept_at_or_before =
        torch::where(kept.logical_and(pos.le(idx.unsqueeze(1))), pos, torch::full_like(pos, -1)).amax(1);
    torch::Tensor first_kept = torch::where(kept, pos, torch::full_like(pos, V)).amin(1);
    return torch::where(last_kept_at_or_before.ge(0), last_kept_at_or_before, first_kept);
  });
}

}  // namespace mqa
