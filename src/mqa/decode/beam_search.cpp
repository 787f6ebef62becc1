#include "mqa/decode/beam_search.h"

#include <fmt/format.h>

#include <stdexcept>

#include "mqa/decode/search_common.h"

namespace mqa {

SearchOptions search_options(const DecodeConfig& c) {
  SearchOptions o;
  o.beam_size = c.beam_size;
  o.nbest = c.nbest;
  o.length_penalty = c.length_penalty;
  o.max_len_a = c.max_len_a;
  o.max_len_b = c.max_len_b;
  o.keep_greedy_path = c.keep_greedy_path;
  return o;
}

std::vector<NBest> beam_search(Transformer& model, const torch::Tensor& src, const SearchOptions& o) {
  if (!model->is_seq2seq()) throw std::invalid_argument("beam_search: the model is a language model, not seq2seq");
  if (src.dim() != 2 || src.scalar_type() != torch::kLong)
    throw std::invalid_argument(fmt::format("beam_search: expected src [B, S] int64, got {}-d {}", src.dim(),
                                            std::string(c10::toString(src.scalar_type()))));
  if (o.beam_size < 1) throw std::invalid_argument(fmt::format("beam_search: beam_size {} < 1", o.beam_size));
  if (o.nbest < 1 || o.nbest > o.beam_size)
    throw std::invalid_argument(fmt::format("beam_search: nbest {} must be in 1..beam_size ({})", o.nbest, o.beam_size));
  torch::NoGradGuard no_grad;
  detail::EvalModeGuard eval_mode(*model);
  const torch::Device device = src.device();
  const int64_t B = src.size(0), K = o.beam_size;
  std::vector<NBest> out(B);
  if (B == 0) return out;

  int64_t steps = 0;
  const std::vector<int64_t> eos_at =
      detail::forced_eos_steps(src, o, model->pad_id(), model->config().max_positions, steps);

  // Rows per source: its K beams, then (keep_greedy_path, K > 1) one row that follows the greedy path. The beams
  // never extend the greedy row, so they search exactly as without it; with K = 1 the beam is the greedy path.
  const bool greedy_row = o.keep_greedy_path && K > 1;
  const int64_t R = K + (greedy_row ? 1 : 0);
  EncoderOutput enc = model->encode(src);
  DecodeState state = model->start(&enc, B, steps, R);

  // The live sources, in batch order; row r of the state is row r % R of source active[r / R].
  std::vector<int64_t> active(B);
  for (int64_t b = 0; b < B; ++b) active[b] = b;
  std::vector<bool> done(B, false);
  std::vector<std::vector<Hypothesis>> finished(B);
  std::vector<bool> greedy_open(B, greedy_row);  // the greedy row has not produced eos yet
  std::vector<int64_t> beams_finished(B, 0);     // finished hypotheses the beams found (the greedy row's not counted)
  // Per row: summed log-probability (host, double) and generated tokens. Step 0: beam 0 and the greedy row are
  // live; the other beams start at -inf so that they do not duplicate beam 0.
  std::vector<double> beam_lp(B * R, detail::kNegInf);
  for (int64_t b = 0; b < B; ++b) {
    beam_lp[b * R] = 0.0;
    if (greedy_row) beam_lp[b * R + K] = 0.0;
  }
  std::vector<std::vector<int64_t>> hist(B * R);
  std::vector<int64_t> row_eos_at(B * R);
  for (int64_t r = 0; r < B * R; ++r) row_eos_at[r] = eos_at[r / R];
  torch::Tensor row_eos_at_t = detail::long_tensor(row_eos_at, device);
  torch::Tensor tokens = torch::full({B * R}, o.bos_id, torch::TensorOptions().dtype(torch::kLong).device(device));

  for (int64_t t = 0; t < steps; ++t) {
    const int64_t A = static_cast<int64_t>(active.size());
    torch::Tensor logits = model->step(state, tokens);  // [A*R, V]
    const int64_t V = logits.size(1);
    torch::Tensor lp = detail::next_token_logprobs(logits, row_eos_at_t.eq(t), model->pad_id(), o.bos_id, o.eos_id);
    torch::Tensor prior = torch::tensor(beam_lp, torch::TensorOptions().dtype(torch::kDouble)).to(device, torch::kFloat);
    // Candidates: the beams' rows only, the first K of each source's R (a view: a source's K*V leading entries).
    auto beams_only = [&](const torch::Tensor& x) { return x.view({A, R * V}).narrow(1, 0, K * V); };
    torch::Tensor cand = beams_only(lp + prior.unsqueeze(1));  // [A, K*V]
    const int64_t C = std::min<int64_t>(2 * K, K * V);
    auto [top_val, top_idx] = cand.topk(C, 1);                    // [A, C]
    torch::Tensor top_step_lp = beams_only(lp).gather(1, top_idx);  // the step's own log-prob
    top_val = top_val.to(torch::kCPU).contiguous();
    top_idx = top_idx.to(torch::kCPU).contiguous();
    top_step_lp = top_step_lp.to(torch::kCPU, torch::kDouble).contiguous();
    const float* val_p = top_val.data_ptr<float>();
    const int64_t* idx_p = top_idx.data_ptr<int64_t>();
    const double* step_p = top_step_lp.data_ptr<double>();
    // The greedy rows' next tokens: the same reduction greedy_search takes, so ties break the same way.
    std::vector<double> greedy_lp;
    std::vector<int64_t> greedy_tok;
    if (greedy_row) {
      auto [mx, arg] = lp.view({A, R, V}).select(1, K).max(1);  // [A]
      mx = mx.to(torch::kCPU, torch::kDouble).contiguous();
      arg = arg.to(torch::kCPU).contiguous();
      greedy_lp.assign(mx.data_ptr<double>(), mx.data_ptr<double>() + A);
      greedy_tok.assign(arg.data_ptr<int64_t>(), arg.data_ptr<int64_t>() + A);
    }

    // The next rows of every active source: parent row, token, summed log-prob.
    std::vector<int64_t> parent(A * R), next_tok(A * R, o.eos_id);
    std::vector<double> next_lp(A * R, detail::kNegInf);
    std::vector<bool> now_done(A, false);
    for (int64_t s = 0; s < A; ++s) {
      const int64_t b = active[s];
      for (int64_t k = 0; k < R; ++k) parent[s * R + k] = s * R + k;  // dead rows idle in place
      if (done[b]) {  // drop_finished off: the source idles until the batch ends
        now_done[s] = true;
        continue;
      }
      auto finish = [&](int64_t from, double total) {
        Hypothesis h;
        h.tokens = hist[from];
        h.logprob = total;
        h.score = total / gnmt_length_penalty(static_cast<int64_t>(h.tokens.size()) + 1, o.length_penalty);
        finished[b].push_back(std::move(h));
      };
      int64_t n = 0;
      for (int64_t j = 0; j < C; ++j) {
        if (val_p[s * C + j] == -std::numeric_limits<float>::infinity()) break;  // sorted: the rest are impossible
        const int64_t from = s * R + idx_p[s * C + j] / V, tok = idx_p[s * C + j] % V;
        const double total = beam_lp[from] + step_p[s * C + j];
        if (tok == o.eos_id) {
          if (j < K) {
            finish(from, total);
            ++beams_finished[b];
          }
        } else if (n < K) {
          parent[s * R + n] = from;
          next_tok[s * R + n] = tok;
          next_lp[s * R + n] = total;
          ++n;
        }
      }
      // The greedy row takes its most likely token; its eos is a finished hypothesis unless the beams found the
      // same one.
      bool greedy_settled = !greedy_open[b];
      if (greedy_open[b]) {
        const int64_t g = s * R + K;
        const double total = beam_lp[g] + greedy_lp[s];
        if (greedy_tok[s] == o.eos_id) {
          const bool found = std::any_of(finished[b].begin(), finished[b].end(),
                                         [&](const Hypothesis& h) { return h.tokens == hist[g]; });
          if (!found) finish(g, total);
          greedy_open[b] = false;
          greedy_settled = true;
        } else {
          next_tok[g] = greedy_tok[s];
          next_lp[g] = total;
          // Settled once it cannot beat the best finished hypothesis: its log-prob only falls, and its length
          // penalty is at most that of the longest output allowed.
          double best = detail::kNegInf;
          for (const Hypothesis& h : finished[b]) best = std::max(best, h.score);
          const double longest = std::max(gnmt_length_penalty(t + 2, o.length_penalty),
                                          gnmt_length_penalty(eos_at[b] + 1, o.length_penalty));
          greedy_settled = total / longest <= best;
        }
      }
      if ((beams_finished[b] >= K && greedy_settled) || n == 0) {
        done[b] = true;
        now_done[s] = true;
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;

    // Rows (and sources) that go on: with drop_finished, the sources still searching; else all of them.
    std::vector<int64_t> rows, sources;
    for (int64_t s = 0; s < A; ++s) {
      if (o.drop_finished && now_done[s]) continue;
      sources.push_back(s);
      for (int64_t k = 0; k < R; ++k) rows.push_back(parent[s * R + k]);
    }
    std::vector<double> new_lp;
    std::vector<std::vector<int64_t>> new_hist;
    std::vector<int64_t> new_tokens, new_active;
    for (int64_t s : sources) {
      new_active.push_back(active[s]);
      for (int64_t k = 0; k < R; ++k) {
        const int64_t i = s * R + k;
        new_lp.push_back(next_lp[i]);
        new_tokens.push_back(next_tok[i]);
        new_hist.push_back(hist[parent[i]]);
        if (next_lp[i] != detail::kNegInf) new_hist.back().push_back(next_tok[i]);
      }
    }
    torch::Tensor rows_t = detail::long_tensor(rows, device);
    if (static_cast<int64_t>(sources.size()) != A)
      model->reorder(state, rows_t, detail::long_tensor(sources, device));
    else
      model->reorder(state, rows_t);
    row_eos_at_t = row_eos_at_t.index_select(0, rows_t);
    active = std::move(new_active);
    beam_lp = std::move(new_lp);
    hist = std::move(new_hist);
    tokens = detail::long_tensor(new_tokens, device);
  }

  for (int64_t b = 0; b < B; ++b) {
    auto& f = finished[b];
    std::stable_sort(f.begin(), f.end(), [](const Hypothesis& x, const Hypothesis& y) { return x.score > y.score; });
    if (static_cast<int64_t>(f.size()) > o.nbest) f.resize(o.nbest);
    out[b] = std::move(f);
  }
  return out;
}

}  // namespace mqa
