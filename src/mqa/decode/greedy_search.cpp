#include "mqa/decode/greedy_search.h"

#include <fmt/format.h>

#include <stdexcept>

#include "mqa/decode/search_common.h"

namespace mqa {

std::vector<NBest> greedy_search(Transformer& model, const torch::Tensor& src, const SearchOptions& o) {
  if (!model->is_seq2seq()) throw std::invalid_argument("greedy_search: the model is a language model, not seq2seq");
  if (src.dim() != 2 || src.scalar_type() != torch::kLong)
    throw std::invalid_argument(fmt::format("greedy_search: expected src [B, S] int64, got {}-d {}", src.dim(),
                                            std::string(c10::toString(src.scalar_type()))));
  torch::NoGradGuard no_grad;
  detail::EvalModeGuard eval_mode(*model);
  const torch::Device device = src.device();
  const int64_t B = src.size(0);
  std::vector<NBest> out(B);
  if (B == 0) return out;

  // Per source: the step at which eos is forced (see hypothesis.h).
  int64_t steps = 0;
  const std::vector<int64_t> eos_at =
      detail::forced_eos_steps(src, o, model->pad_id(), model->config().max_positions, steps);

  EncoderOutput enc = model->encode(src);
  DecodeState state = model->start(&enc, B, steps, /*beams=*/1);

  std::vector<int64_t> row_source(B);  // row -> source; rows leave when their sentence is done
  for (int64_t b = 0; b < B; ++b) row_source[b] = b;
  std::vector<bool> done(B, false);
  std::vector<double> logprob(B, 0.0);
  torch::Tensor row_eos_at = detail::long_tensor(eos_at, device);  // [N]
  torch::Tensor tokens = torch::full({B}, o.bos_id, torch::TensorOptions().dtype(torch::kLong).device(device));

  for (int64_t t = 0; t < steps; ++t) {
    torch::Tensor logits = model->step(state, tokens);  // [N, V]
    torch::Tensor lp = detail::next_token_logprobs(logits, row_eos_at.eq(t), model->pad_id(), o.bos_id, o.eos_id);
    auto [best_lp, best_tok] = lp.max(1);  // [N], [N]
    torch::Tensor best_lp_h = best_lp.to(torch::kCPU, torch::kDouble).contiguous();
    torch::Tensor best_tok_h = best_tok.to(torch::kCPU).contiguous();
    const double* lp_p = best_lp_h.data_ptr<double>();
    const int64_t* tok_p = best_tok_h.data_ptr<int64_t>();

    const int64_t N = static_cast<int64_t>(row_source.size());
    std::vector<int64_t> keep, next;  // surviving rows, and their next input tokens
    for (int64_t r = 0; r < N; ++r) {
      const int64_t b = row_source[r];
      if (done[b]) {  // only when drop_finished is off: the row idles on eos
        keep.push_back(r);
        next.push_back(o.eos_id);
        continue;
      }
      logprob[b] += lp_p[r];
      if (tok_p[r] == o.eos_id) {
        done[b] = true;
        if (!o.drop_finished) {
          keep.push_back(r);
          next.push_back(o.eos_id);
        }
      } else {
        out[b].resize(1);
        out[b][0].tokens.push_back(tok_p[r]);
        keep.push_back(r);
        next.push_back(tok_p[r]);
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    if (static_cast<int64_t>(keep.size()) != N) {
      // Beams = 1: a row is a source, so the kept rows are also the kept sources (their cross-attention K/V).
      torch::Tensor rows = detail::long_tensor(keep, device);
      model->reorder(state, rows, rows);
      row_eos_at = row_eos_at.index_select(0, rows);
      std::vector<int64_t> kept_source;
      for (int64_t r : keep) kept_source.push_back(row_source[r]);
      row_source = std::move(kept_source);
    }
    tokens = detail::long_tensor(next, device);
  }

  for (int64_t b = 0; b < B; ++b) {
    out[b].resize(1);
    Hypothesis& h = out[b][0];
    h.logprob = logprob[b];
    h.score = logprob[b] / gnmt_length_penalty(static_cast<int64_t>(h.tokens.size()) + 1, o.length_penalty);
  }
  return out;
}

}  // namespace mqa

namespace mqa {

std::vector<Continuation> lm_greedy(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                    const GenerateOptions& options) {
  return continue_prompts(model, prompts, options, [](const torch::Tensor& lp) { return lp.argmax(1); });
}

}  // namespace mqa
