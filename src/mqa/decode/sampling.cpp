#include "mqa/decode/sampling.h"

#include <fmt/format.h>

#include <random>
#include <stdexcept>

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
  torch::NoGradGuard no_grad;
  detail::EvalModeGuard eval_mode(*model);
  const torch::Device device = detail::device_of(*model);
  const int64_t B = static_cast<int64_t>(prompts.size());
  const int64_t max_positions = model->config().max_positions;
  std::vector<Continuation> out(B);
  if (B == 0) return out;

  // Per row: the fed tokens (prompt), and the last step whose output is still wanted.
  std::vector<std::vector<int64_t>> fed(B);
  std::vector<int64_t> last_step(B);
  int64_t steps = 0;
  for (int64_t b = 0; b < B; ++b) {
    if (o.start_id >= 0) fed[b].push_back(o.start_id);
    fed[b].insert(fed[b].end(), prompts[b].begin(), prompts[b].end());
    const auto P = static_cast<int64_t>(fed[b].size());
    if (P == 0)
      throw std::invalid_argument(fmt::format("continue_prompts: prompt {} is empty and start_id is -1", b));
    if (P > max_positions)
      throw std::invalid_argument(fmt::format("continue_prompts: prompt {} has {} tokens, more than model.max_positions "
                                              "({})", b, P, max_positions));
    // Step t reads position t; the output of step P-1+i is new token i (i < max_new_tokens), and a new token is fed
    // back only if it fits at position < max_positions.
    last_step[b] = std::min(P - 1 + o.max_new_tokens - 1, max_positions - 1);
    steps = std::max(steps, last_step[b] + 1);
  }
  if (o.max_new_tokens <= 0) return out;

  DecodeState state = model->start(nullptr, B, steps, /*beams=*/1);
  std::vector<int64_t> row_seq(B);  // row -> prompt index
  for (int64_t b = 0; b < B; ++b) row_seq[b] = b;

  std::vector<int64_t> first(B);
  for (int64_t b = 0; b < B; ++b) first[b] = fed[b][0];
  torch::Tensor tokens = detail::long_tensor(first, device);
  for (int64_t t = 0; t < steps; ++t) {
    torch::Tensor logits = model->step(state, tokens);  // [N, V]
    const auto N = static_cast<int64_t>(row_seq.size());
    // Only the rows past their prompt choose a token; the others feed their next prompt token.
    torch::Tensor lp = detail::next_token_logprobs(
        logits, torch::zeros({N}, torch::TensorOptions().dtype(torch::kBool).device(logits.device())), model->pad_id(),
        o.bos_id, o.eos_id);
    torch::Tensor chosen = choose(lp).to(torch::kLong);                       // [N]
    torch::Tensor chosen_lp = lp.gather(1, chosen.unsqueeze(1)).squeeze(1);  // [N]
    chosen = chosen.to(torch::kCPU).contiguous();
    chosen_lp = chosen_lp.to(torch::kCPU, torch::kDouble).contiguous();
    const int64_t* tok_p = chosen.data_ptr<int64_t>();
    const double* lp_p = chosen_lp.data_ptr<double>();

    std::vector<int64_t> keep, next;
    for (int64_t r = 0; r < N; ++r) {
      const int64_t b = row_seq[r];
      const auto P = static_cast<int64_t>(fed[b].size());
      if (t + 1 < P) {  // still reading the prompt
        keep.push_back(r);
        next.push_back(fed[b][t + 1]);
        continue;
      }
      if (t > last_step[b]) continue;  // already over (only reached when the row was not dropped)
      Continuation& c = out[b];
      c.logprob += lp_p[r];
      if (tok_p[r] == o.eos_id) {
        c.ended_with_eos = true;
        continue;
      }
      c.tokens.push_back(tok_p[r]);
      if (o.on_token) o.on_token(b, tok_p[r]);
      if (t == last_step[b]) continue;
      keep.push_back(r);
      next.push_back(tok_p[r]);
    }
    if (keep.empty()) break;
    if (static_cast<int64_t>(keep.size()) != N) {
      torch::Tensor rows = detail::long_tensor(keep, device);
      model->reorder(state, rows);
      std::vector<int64_t> kept;
      for (int64_t r : keep) kept.push_back(row_seq[r]);
      row_seq = std::move(kept);
    }
    tokens = detail::long_tensor(next, device);
  }
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
  auto rng = std::make_shared<std::mt19937_64>(o.seed);
  return continue_prompts(model, prompts, o, [&o, rng](const torch::Tensor& lp) {
    torch::Tensor probs = filtered_probabilities(lp, o.temperature, o.top_k, o.top_p);  // [N, V]
    const int64_t N = probs.size(0);
    // Inverse-CDF draw with host uniforms: the same seed gives the same tokens on every device.
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<double> u(N);
    for (auto& x : u) x = uniform(*rng);
    torch::Tensor ut = torch::tensor(u, torch::TensorOptions().dtype(torch::kDouble)).to(probs.device(), torch::kFloat);
    torch::Tensor cdf = probs.cumsum(1);                                                     // [N, V]
    torch::Tensor idx = cdf.lt(ut.unsqueeze(1) * cdf.narrow(1, probs.size(1) - 1, 1)).sum(1);  // [N]
    idx = idx.clamp_max(probs.size(1) - 1);
    // Never land on a zero-probability token through rounding: step back to the last kept one.
    torch::Tensor kept = probs.gt(0);
    torch::Tensor pos = torch::arange(probs.size(1), idx.options()).unsqueeze(0).expand_as(probs);
    torch::Tensor last_kept_at_or_before =
        torch::where(kept.logical_and(pos.le(idx.unsqueeze(1))), pos, torch::full_like(pos, -1)).amax(1);
    torch::Tensor first_kept = torch::where(kept, pos, torch::full_like(pos, probs.size(1))).amin(1);
    return torch::where(last_kept_at_or_before.ge(0), last_kept_at_or_before, first_kept);
  });
}

}  // namespace mqa
