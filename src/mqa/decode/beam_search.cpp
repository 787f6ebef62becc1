#include "mqa/decode/beam_search.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "mqa/decode/history_hash.h"
#include "mqa/decode/search_common.h"
#include "mqa/util/timer.h"

namespace mqa {

namespace {
constexpr float kNegInfF = -std::numeric_limits<float>::infinity();
}  // namespace

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

// Device-side state of a batch of B sources x R rows (K beams, plus the greedy row with keep_greedy_path).
struct BeamSearch::State {
  int64_t sources = 0, steps = 0, source_len = 0;
  int64_t K = 0, R = 0, F = 0;       // beams, rows per source, finished slots (column F is a dump for non-writes)
  torch::Tensor scores;              // [B, R] float: summed log-probability of each row (-inf: dead), for ranking
  torch::Tensor sums;                // [B, R] double: the same sums as reported (accumulated in double, as greedy's)
  torch::Tensor row_eos_at;          // [N] long: the step at which the row's source forces eos
  torch::Tensor longest_pen;         // [B] float: length penalty of the longest output allowed
  torch::Tensor pen;                 // [steps + 2] float: length penalty of a hypothesis of len tokens (with eos)
  torch::Tensor done, greedy_open;   // [B] bool
  torch::Tensor fin_count, beams_finished;       // [B] long: slots used; of them found by the beams
  torch::Tensor fin_score;                       // [B, F + 1] float
  torch::Tensor fin_lp;                          // [B, F + 1] double
  torch::Tensor fin_step, fin_row, fin_hash;     // [B, F + 1] long: eos step, parent row at that step, history hash
  torch::Tensor hash;                // [N] long: hash of each row's history
  torch::Tensor hist_tok, hist_par;  // [steps, N] long: each step's token and parent row of every row
  torch::Tensor rank;                // [1, 2K] long: 0 .. 2K-1
  torch::Tensor row_base;            // [B, 1] long: b * R
  torch::Tensor slot_ids;            // [1, F + 1] long
};

BeamSearch::BeamSearch(DecodeEngine& engine, const SearchOptions& options) : engine_(engine), options_(options) {
  if (options.beam_size < 1)
    throw std::invalid_argument(fmt::format("beam_search: beam_size {} < 1", options.beam_size));
  if (options.nbest < 1 || options.nbest > options.beam_size)
    throw std::invalid_argument(
        fmt::format("beam_search: nbest {} must be in 1..beam_size ({})", options.nbest, options.beam_size));
}
BeamSearch::~BeamSearch() = default;

void BeamSearch::update(const torch::Tensor& logits) {
  State& st = *state_;
  const SearchOptions& o = options_;
  const int64_t B = st.sources, K = st.K, R = st.R, N = B * R;
  const int64_t C = std::min<int64_t>(2 * K, logits.size(1));
  auto t = batch_.pos.narrow(0, 0, 1);  // [1]: the step (every row is at the same position, from 0)

  // Each row's best C candidates (log-probability after the length-limit and min_len masks), then the best C of a
  // source's K beams: the best C of the K * V extensions, as the union of the rows' best C holds them.
  auto cand = decode_ops::beam_candidates(logits, st.scores.view({N}), t, st.row_eos_at, C,
                                          engine_.model()->pad_id(), o.bos_id, o.eos_id, o.min_len);  // [N, C] each
  {  // on the kernel path, everything below (the table's reorder included) as one kernel
    decode_ops::BeamUpdateState u;
    u.beams = K, u.rows_per_source = R, u.slots = st.F, u.eos = o.eos_id;
    u.pos = batch_.pos, u.table = batch_.table, u.tokens = batch_.tokens;
    u.pen = st.pen, u.longest_pen = st.longest_pen;
    u.scores = st.scores, u.sums = st.sums, u.done = st.done, u.greedy_open = st.greedy_open;
    u.fin_count = st.fin_count, u.beams_finished = st.beams_finished, u.fin_score = st.fin_score;
    u.fin_lp = st.fin_lp, u.fin_step = st.fin_step, u.fin_row = st.fin_row, u.fin_hash = st.fin_hash;
    u.hash = st.hash, u.hist_tok = st.hist_tok, u.hist_par = st.hist_par;
    if (decode_ops::fused_beam_update(cand, u)) return;
  }
  auto beams_only = [&](const torch::Tensor& x) { return x.view({B, R, C}).narrow(1, 0, K).reshape({B, K * C}); };
  // [B, C], best first; ties: the lower index (the earlier beam, then its better-ranked candidate), as the fused
  // kernel ranks them. A stable sort, not topk: topk's order of equal values is its own, and bf16 logits tie often.
  auto [sorted_val, sorted_pos] = torch::sort(beams_only(cand.total), /*stable=*/true, /*dim=*/1, /*descending=*/true);
  auto top_val = sorted_val.narrow(1, 0, C), top_pos = sorted_pos.narrow(1, 0, C);
  auto from = torch::div(top_pos, C, "floor");                   // beam extended
  auto tok = beams_only(cand.token).gather(1, top_pos);           // token appended
  // The reported sums: the parent's double sum plus this step's log-probability, as greedy search adds them.
  auto step_lp = beams_only(cand.logprob).gather(1, top_pos).to(torch::kFloat64);  // [B, C]
  auto top_sum = st.sums.gather(1, from) + step_lp;                                 // [B, C]
  auto finite = top_val.gt(kNegInfF);
  auto is_eos = tok.eq(o.eos_id).logical_and(finite);
  auto rank = st.rank.narrow(1, 0, C);
  auto pen_now = st.pen.index_select(0, t + 1);  // [1]: every eos now ends a hypothesis of t + 1 tokens
  auto row_hash = st.hash.view({B, R});

  // eos ranked within the first K finishes a hypothesis (into the next free slot, in rank order).
  auto fin_now = is_eos.logical_and(rank.lt(K)).logical_and(st.done.logical_not().unsqueeze(1));  // [B, C]
  auto slot = (st.fin_count.unsqueeze(1) + fin_now.cumsum(1) - 1).clamp_max(st.F).masked_fill(fin_now.logical_not(),
                                                                                               st.F);
  st.fin_score.scatter_(1, slot, top_val / pen_now);
  st.fin_lp.scatter_(1, slot, top_sum);
  st.fin_step.scatter_(1, slot, t.expand({B, C}).contiguous());
  st.fin_row.scatter_(1, slot, st.row_base + from);
  st.fin_hash.scatter_(1, slot, row_hash.gather(1, from));
  auto n_fin = fin_now.sum(1);
  st.fin_count.add_(n_fin).clamp_max_(st.F);
  st.beams_finished.add_(n_fin);

  // The first K candidates that are not eos continue, in rank order (dead where fewer than K are possible).
  auto cont = is_eos.logical_not().logical_and(finite);
  auto sel = std::get<1>((rank + cont.logical_not().to(torch::kLong) * C).topk(K, 1, /*largest=*/false));  // [B, K]
  auto next_val = top_val.gather(1, sel).masked_fill(cont.gather(1, sel).logical_not(), kNegInfF);
  auto next_sum = top_sum.gather(1, sel);
  auto next_tok = tok.gather(1, sel);
  auto parents = st.row_base + from.gather(1, sel);
  auto settled = st.greedy_open.logical_not();

  if (R > K) {  // keep_greedy_path: row K of each source follows the greedy path
    // The greedy row's best candidate: its most likely token, as greedy search takes it.
    auto g_lp = cand.logprob.view({B, R, C}).select(1, K).select(1, 0);  // [B]
    auto g_tok = cand.token.view({B, R, C}).select(1, K).select(1, 0);
    auto g_total = st.scores.select(1, K) + g_lp;
    auto g_sum = st.sums.select(1, K) + g_lp.to(torch::kFloat64);
    auto g_eos = st.greedy_open.logical_and(st.done.logical_not()).logical_and(g_tok.eq(o.eos_id));
    auto g_hash = row_hash.select(1, K);
    auto filled = st.slot_ids.lt(st.fin_count.unsqueeze(1));  // [B, F + 1]
    auto dup = st.fin_hash.eq(g_hash.unsqueeze(1)).logical_and(st.fin_step.eq(t)).logical_and(filled).any(1);
    auto add = g_eos.logical_and(dup.logical_not());
    auto g_slot = st.fin_count.masked_fill(add.logical_not(), st.F).unsqueeze(1);  // [B, 1]
    st.fin_score.scatter_(1, g_slot, (g_total / pen_now).unsqueeze(1));
    st.fin_lp.scatter_(1, g_slot, g_sum.unsqueeze(1));
    st.fin_step.scatter_(1, g_slot, t.expand({B, 1}).contiguous());
    st.fin_row.scatter_(1, g_slot, st.row_base + K);
    st.fin_hash.scatter_(1, g_slot, g_hash.unsqueeze(1));
    st.fin_count.add_(add.to(torch::kLong)).clamp_max_(st.F);
    st.greedy_open.logical_and_(g_eos.logical_not());
    // Settled once it cannot beat the best finished hypothesis: its log-prob only falls, and its length penalty is
    // at most that of the longest output allowed.
    auto best = std::get<0>(st.fin_score.narrow(1, 0, st.F).max(1));  // [B]
    auto longest = torch::maximum(st.pen.index_select(0, t + 2).expand({B}), st.longest_pen);
    settled = st.greedy_open.logical_not().logical_or((g_total / longest).le(best));
    next_tok = torch::cat({next_tok, g_tok.unsqueeze(1)}, 1);
    next_val = torch::cat({next_val, g_total.masked_fill(st.greedy_open.logical_not(), kNegInfF).unsqueeze(1)}, 1);
    next_sum = torch::cat({next_sum, g_sum.unsqueeze(1)}, 1);
    parents = torch::cat({parents, st.row_base + K}, 1);
  }
  auto done = st.done.logical_or(st.beams_finished.ge(K).logical_and(settled)).logical_or(cont.sum(1).eq(0));

  auto flat_parents = parents.reshape({N}), flat_tok = next_tok.reshape({N});
  st.hist_tok.index_copy_(0, t, flat_tok.unsqueeze(0));
  st.hist_par.index_copy_(0, t, flat_parents.unsqueeze(0));
  st.hash.copy_(torch::remainder(st.hash.index_select(0, flat_parents) * history_hash::kMultiplier + flat_tok + 1,
                                 history_hash::kModulus));
  engine_.reorder(batch_, flat_parents);
  batch_.tokens.copy_(flat_tok);
  st.scores.copy_(next_val);
  st.sums.copy_(next_sum);
  st.done.copy_(done);
  batch_.pos.add_(1);
}

std::vector<NBest> BeamSearch::search(const torch::Tensor& src, SearchTimings* timings) {
  return run(src, timings, 0);
}

void BeamSearch::warm_up(const torch::Tensor& src) { run(src, nullptr, 2); }

void BeamSearch::keep_shapes(size_t n) { shapes_.set_keep(n); }

std::vector<NBest> BeamSearch::run(const torch::Tensor& src, SearchTimings* timings, int64_t step_limit) {
  Transformer& model = engine_.model();
  detail::check_source(model, src, "beam_search");
  const SearchOptions& o = options_;
  const int64_t B = src.size(0), K = o.beam_size;
  std::vector<NBest> out(B);
  if (B == 0) return out;
  int64_t steps = 0;
  const std::vector<int64_t> eos_at =
      detail::forced_eos_steps(src, o, model->pad_id(), model->config().max_positions, steps);
  // Rows per source: its K beams, then (keep_greedy_path, K > 1) the row that follows the greedy path.
  const int64_t R = K + (o.keep_greedy_path && K > 1 ? 1 : 0), N = B * R;

  engine_.on_stream([&] {
    std::optional<Timer> timer;
    if (timings) timer.emplace(engine_.device()), timer->start();
    shapes_.select({B, steps, src.size(1)}, batch_, state_, graph_);  // a held shape: its buffers and graph
    if (!state_) state_ = std::make_unique<State>();
    engine_.start_sources(batch_, src, R, steps, o.bos_id, /*beams=*/true);
    State& st = *state_;
    const auto longs = batch_.pos.options(), floats = longs.dtype(torch::kFloat32);
    if (!st.scores.defined()) {
      st.sources = B, st.steps = steps, st.source_len = src.size(1);
      st.K = K, st.R = R, st.F = R > K ? K * steps + 1 : 2 * K;
      const int64_t V = model->vocab_size();
      st.scores = torch::empty({B, R}, floats);
      st.sums = torch::empty({B, R}, floats.dtype(torch::kFloat64));
      st.row_eos_at = torch::empty({N}, longs);
      st.longest_pen = torch::empty({B}, floats);
      std::vector<double> pen(steps + 2);
      for (int64_t len = 0; len < steps + 2; ++len) pen[len] = gnmt_length_penalty(len, o.length_penalty);
      st.pen = torch::tensor(pen, torch::kFloat64).to(engine_.device(), torch::kFloat32);
      st.done = torch::empty({B}, longs.dtype(torch::kBool));
      st.greedy_open = torch::empty({B}, longs.dtype(torch::kBool));
      st.fin_count = torch::empty({B}, longs);
      st.beams_finished = torch::empty({B}, longs);
      st.fin_score = torch::empty({B, st.F + 1}, floats);
      st.fin_lp = torch::empty({B, st.F + 1}, floats.dtype(torch::kFloat64));
      st.fin_step = torch::empty({B, st.F + 1}, longs);
      st.fin_row = torch::empty({B, st.F + 1}, longs);
      st.fin_hash = torch::empty({B, st.F + 1}, longs);
      st.hash = torch::empty({N}, longs);
      st.hist_tok = torch::empty({steps, N}, longs);
      st.hist_par = torch::empty({steps, N}, longs);
      st.rank = torch::arange(2 * K, longs).unsqueeze(0);
      st.row_base = (torch::arange(B, longs) * R).unsqueeze(1);
      st.slot_ids = torch::arange(st.F + 1, longs).unsqueeze(0);
    }
    // Step 0: only beam 0 and the greedy row of each source are live.
    st.scores.fill_(kNegInfF);
    st.scores.select(1, 0).zero_();
    if (R > K) st.scores.select(1, K).zero_();
    st.sums.zero_();
    std::vector<int64_t> row_eos(N);
    std::vector<double> longest(B);
    for (int64_t r = 0; r < N; ++r) row_eos[r] = eos_at[r / R];
    for (int64_t b = 0; b < B; ++b) longest[b] = gnmt_length_penalty(eos_at[b] + 1, o.length_penalty);
    st.row_eos_at.copy_(detail::long_tensor(row_eos, engine_.device()));
    st.longest_pen.copy_(torch::tensor(longest, torch::kFloat64));
    st.done.zero_();
    st.greedy_open.fill_(R > K);
    st.fin_count.zero_();
    st.beams_finished.zero_();
    st.fin_score.fill_(kNegInfF);
    st.fin_lp.fill_(kNegInfF);
    st.fin_step.fill_(-1);
    st.fin_row.zero_();
    st.fin_hash.fill_(-1);
    st.hash.zero_();
    if (timings) timings->encode_ms = timer->stop(), timer->start();

    const int64_t ran = engine_.run(
        batch_, graph_, [&] { update(engine_.step(batch_)); }, [&](int64_t) { return st.done.all().item<bool>(); },
        step_limit > 0 ? std::min(steps, step_limit) : steps);
    if (timings) timings->decode_ms = timer->stop(), timings->steps = ran, timings->graph = graph_ != nullptr;

    // Read the finished hypotheses back by following parents. Through accessors: item() per value went through
    // LibTorch's dispatcher thousands of times a batch (translate's host time outside the searches, quickstart model
    // on CPU, 4 batches: 17 ms before, 5 ms after; on the H200 it was ~8 ms a batch, 27 batches).
    auto count_t = st.fin_count.cpu(), step_t = st.fin_step.cpu(), row_t = st.fin_row.cpu();
    auto lp_t = st.fin_lp.cpu();
    auto htok = st.hist_tok.narrow(0, 0, ran).cpu(), hpar = st.hist_par.narrow(0, 0, ran).cpu();
    const auto count = count_t.accessor<int64_t, 1>();
    const auto step = step_t.accessor<int64_t, 2>(), row = row_t.accessor<int64_t, 2>();
    const auto lp = lp_t.accessor<double, 2>();
    const int64_t* tok_p = htok.data_ptr<int64_t>();
    const int64_t* par_p = hpar.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      auto& f = out[b];
      for (int64_t k = 0; k < count[b]; ++k) {
        Hypothesis h;
        int64_t r = row[b][k];
        for (int64_t s = step[b][k] - 1; s >= 0; --s) {
          h.tokens.push_back(tok_p[s * N + r]);
          r = par_p[s * N + r];
        }
        std::reverse(h.tokens.begin(), h.tokens.end());
        h.logprob = lp[b][k];
        h.score = h.logprob / gnmt_length_penalty(static_cast<int64_t>(h.tokens.size()) + 1, o.length_penalty);
        f.push_back(std::move(h));
      }
      std::stable_sort(f.begin(), f.end(), [](const Hypothesis& x, const Hypothesis& y) { return x.score > y.score; });
      if (static_cast<int64_t>(f.size()) > o.nbest) f.resize(o.nbest);
    }
  });
  return out;
}

std::vector<NBest> beam_search(Transformer& model, const torch::Tensor& src, const SearchOptions& options) {
  DecodeEngine engine(model, engine_options(options.precision));
  return BeamSearch(engine, options).search(src);
}

}  // namespace mqa
