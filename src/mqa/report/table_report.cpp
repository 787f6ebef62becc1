#include "mqa/report/table_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace mqa {

std::string metric_name(Metric metric) {
  switch (metric) {
    case Metric::ValidLnPpl: return "dev ln(PPL)";
    case Metric::ValidBleu: return "dev BLEU (greedy)";
    case Metric::TestBleuGreedy: return "test BLEU beam 1";
    case Metric::TestBleuBeam: return "test BLEU (beam)";
    case Metric::ValidWordPpl: return "dev PPL per word";
    case Metric::ValidLnWordPpl: return "dev ln(PPL per word)";
    case Metric::TestWordPpl: return "test PPL per word";
    case Metric::WikitextWordPpl: return "WikiText-103 test PPL per word";
    case Metric::TrainSeconds: return "train s";
    case Metric::RowSeconds: return "row s";
  }
  return "?";
}

bool higher_is_better(Metric metric) {
  return metric == Metric::ValidBleu || metric == Metric::TestBleuGreedy || metric == Metric::TestBleuBeam;
}

double paper_value(const PaperRow& row, Metric metric) {
  switch (metric) {
    case Metric::ValidLnPpl: return row.ln_ppl_dev;
    case Metric::ValidBleu: return row.bleu_dev;
    case Metric::TestBleuGreedy: return row.bleu_test_beam1;
    case Metric::TestBleuBeam: return row.bleu_test_beam4;
    case Metric::ValidWordPpl: return row.ppl_dev;
    case Metric::ValidLnWordPpl: return std::log(row.ppl_dev);
    default: return kMissing;
  }
}

double run_value(const RunResult& r, Metric metric) {
  switch (metric) {
    case Metric::ValidLnPpl: return r.valid_ln_ppl;
    case Metric::ValidBleu: return r.valid_bleu_greedy;
    case Metric::TestBleuGreedy: return r.bleu_greedy;
    case Metric::TestBleuBeam: return r.bleu_beam;
    case Metric::ValidWordPpl: return r.valid_word_ppl;
    case Metric::ValidLnWordPpl: return std::log(r.valid_word_ppl);
    case Metric::TestWordPpl: return r.test_word_ppl;
    case Metric::WikitextWordPpl: return r.wikitext_word_ppl;
    case Metric::TrainSeconds: return r.train_seconds;
    case Metric::RowSeconds: return r.row_seconds;
  }
  return kMissing;
}

const std::vector<double>& RowSummary::of(Metric metric) const {
  static const std::vector<double> none;
  auto it = values.find(metric);
  return it == values.end() ? none : it->second;
}

std::string to_string(Support support) {
  switch (support) {
    case Support::Supported: return "supported";
    case Support::Contradicted: return "contradicted";
    case Support::Inconclusive: return "inconclusive";
    case Support::NotJudged: return "not judged";
  }
  return "?";
}

namespace {

constexpr Metric kAllMetrics[] = {Metric::ValidLnPpl,     Metric::ValidBleu,     Metric::TestBleuGreedy,
                                  Metric::TestBleuBeam,   Metric::ValidWordPpl,  Metric::ValidLnWordPpl,
                                  Metric::TestWordPpl,    Metric::WikitextWordPpl, Metric::TrainSeconds,
                                  Metric::RowSeconds};

bool same_shape(const ModelConfig& a, const ModelConfig& b) {
  return a.type == b.type && a.encoder_layers == b.encoder_layers && a.decoder_layers == b.decoder_layers &&
         a.d_model == b.d_model && a.heads == b.heads && a.kv_heads == b.kv_heads && a.d_k == b.d_k &&
         a.d_v == b.d_v && a.d_ff == b.d_ff && a.window == b.window;
}

// Position of a row in the report: the paper's row order, unmatched rows after them.
size_t paper_index(const PaperTable& table, const PaperRow* row) {
  for (size_t i = 0; i < table.rows.size(); ++i)
    if (&table.rows[i] == row) return i;
  return table.rows.size();
}

const RowSummary* find_kind(const std::vector<RowSummary>& rows, AttentionKind kind) {
  for (const auto& r : rows)
    if (r.kind == kind) return &r;
  return nullptr;
}

bool measured(const std::vector<RowSummary>& rows, Metric m) {
  for (const auto& r : rows)
    if (r.stat(m).n > 0) return true;
  return false;
}

std::string num(double v, int decimals) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "—"; }
std::string signed_num(double v, int decimals) {
  return std::isfinite(v) ? fmt::format("{:+.{}f}", v, decimals) : "—";
}

int decimals_of(Metric m) {
  switch (m) {
    case Metric::ValidLnPpl:
    case Metric::ValidLnWordPpl: return 3;
    case Metric::TrainSeconds:
    case Metric::RowSeconds: return 0;
    default: return 2;
  }
}

// "mean" for one seed, "mean ± h" (95% interval half-width) for more.
std::string cell(const MeanInterval& s, int decimals) {
  if (s.n == 0) return "—";
  if (s.n == 1) return num(s.mean, decimals);
  return fmt::format("{} ± {}", num(s.mean, decimals), num(s.half_width, decimals));
}

// The steps of a row's seeds: "N" or "min-max", and "(k/n converged)" when k of them stopped on converging.
std::string steps_cell(const RowSummary& r) {
  const std::string steps =
      r.min_steps == r.steps ? std::to_string(r.steps) : fmt::format("{}-{}", r.min_steps, r.steps);
  return r.converged == 0 ? steps : fmt::format("{} ({}/{} converged)", steps, r.converged, r.seeds.size());
}

std::string paper_cell(const PaperRow* paper, Metric m) {
  return paper ? num(paper_value(*paper, m), decimals_of(m) == 3 ? 3 : 1) : "—";
}

Ordering make_ordering(const std::string& claim, const RowSummary* row, const RowSummary* ref,
                       AttentionKind row_kind, AttentionKind ref_kind, Metric metric, const std::string& expected) {
  Ordering o;
  o.claim = claim;
  o.metric = metric;
  o.expected = expected;
  o.row = row ? row->row : to_string(row_kind);
  o.reference = ref ? ref->row : to_string(ref_kind);
  o.paper_worse_by = kMissing;
  o.test = WelchTest{kMissing, kMissing, kMissing, kMissing, kMissing, kMissing, kMissing};
  const bool higher = higher_is_better(metric);
  if (row && ref && row->paper && ref->paper) {
    const double a = paper_value(*row->paper, metric), b = paper_value(*ref->paper, metric);
    o.paper_worse_by = higher ? b - a : a - b;
  }
  const int dec = decimals_of(metric);
  if (!row || !ref || row->stat(metric).n == 0 || ref->stat(metric).n == 0) {
    o.verdict = "not measured (a row is missing)";
    return o;
  }
  // Oriented so that a positive difference means `row` is worse.
  o.test = higher ? welch_test(ref->of(metric), row->of(metric)) : welch_test(row->of(metric), ref->of(metric));
  const WelchTest& w = o.test;
  if (!std::isfinite(w.lo)) {
    o.verdict = fmt::format("{} by {}; fewer than two seeds on a side: not judged",
                            w.difference >= 0 ? "worse" : "better", num(std::abs(w.difference), dec));
    return o;
  }
  const bool above = w.lo > 0, below = w.hi < 0;
  if (expected == "worse")
    o.support = above ? Support::Supported : below ? Support::Contradicted : Support::Inconclusive;
  else
    o.support = above || below ? Support::Contradicted : Support::Supported;
  o.paper_inside = std::isfinite(o.paper_worse_by) && w.lo <= o.paper_worse_by && o.paper_worse_by <= w.hi;
  const std::string test = std::isfinite(w.df)
                               ? fmt::format("Welch t {:.2f}, df {:.1f}, p {:.3f}", w.t, w.df, w.p_two_sided)
                               : std::string("no seed variance");
  const std::string finding = above   ? "worse (significant at 95%)"
                              : below ? "better (significant at 95%)"
                                      : "no significant difference";
  o.verdict = fmt::format("{} by {} [{}, {}] ({}): {}", w.difference >= 0 ? "worse" : "better",
                          num(std::abs(w.difference), dec), signed_num(w.lo, dec), signed_num(w.hi, dec), test,
                          finding);
  return o;
}

}  // namespace

std::vector<RowSummary> summarize_rows(const PaperTable& table, const std::vector<RunResult>& runs) {
  std::map<std::string, std::vector<const RunResult*>> by_row;
  for (const auto& r : runs) by_row[r.row].push_back(&r);
  std::vector<RowSummary> rows;
  for (auto& [name, group] : by_row) {
    std::sort(group.begin(), group.end(), [](auto* a, auto* b) { return a->seed < b->seed; });
    RowSummary s;
    s.row = name;
    s.model = group.front()->model;
    s.params = group.front()->params;
    s.kind = attention_kind(s.model);
    s.paper = match_paper_row(table, s.model);
    for (const RunResult* r : group) {
      if (!same_shape(r->model, s.model))
        throw std::runtime_error(fmt::format("row {}: {} and {} have different models (one row name, two configs?)",
                                             name, group.front()->dir, r->dir));
      s.seeds.push_back(r->seed);
      s.min_steps = s.seeds.size() == 1 ? r->steps : std::min(s.min_steps, r->steps);
      s.steps = std::max(s.steps, r->steps);
      s.converged += r->converged ? 1 : 0;
      for (Metric m : kAllMetrics) s.values[m].push_back(run_value(*r, m));
      s.beam_size = std::max(s.beam_size, r->beam_size);
      if (s.bleu_signature.empty()) s.bleu_signature = r->bleu_signature;
    }
    rows.push_back(std::move(s));
  }
  std::stable_sort(rows.begin(), rows.end(), [&](const RowSummary& a, const RowSummary& b) {
    return paper_index(table, a.paper) < paper_index(table, b.paper);
  });
  return rows;
}

std::vector<Ordering> compute_orderings(const PaperTable& table, const std::vector<RowSummary>& rows) {
  using K = AttentionKind;
  std::vector<Metric> metrics;
  if (table.translation) {
    metrics.push_back(Metric::ValidLnPpl);
    if (measured(rows, Metric::ValidBleu)) metrics.push_back(Metric::ValidBleu);
    metrics.push_back(Metric::TestBleuBeam);
  } else {
    metrics.push_back(measured(rows, Metric::ValidLnWordPpl) ? Metric::ValidLnWordPpl : Metric::ValidLnPpl);
  }
  const RowSummary* mh = find_kind(rows, K::MultiHead);
  const RowSummary* mq = find_kind(rows, K::MultiQuery);
  std::vector<Ordering> out;
  for (Metric m : metrics) {
    // The paper's multi-query loss is in perplexity; its BLEU moves by 0.1-0.2 either way.
    out.push_back(make_ordering("multi-query vs multi-head", mq, mh, K::MultiQuery, K::MultiHead, m,
                                higher_is_better(m) ? "same" : "worse"));
    if (table.translation) {
      out.push_back(make_ordering("multi-head local vs multi-head", find_kind(rows, K::MultiHeadLocal), mh,
                                  K::MultiHeadLocal, K::MultiHead, m, "same"));
      out.push_back(make_ordering("multi-query local vs multi-query", find_kind(rows, K::MultiQueryLocal), mq,
                                  K::MultiQueryLocal, K::MultiQuery, m, "same"));
    }
    for (const auto& r : rows)
      if (r.kind == K::Reduced)
        out.push_back(make_ordering(fmt::format("h {} d_k {} vs multi-query", r.model.heads, r.model.d_k), &r, mq,
                                    K::Reduced, K::MultiQuery, m, "worse"));
  }
  return out;
}

std::string render_report(const PaperTable& table, const ReportInputs& inputs) {
  const std::vector<RowSummary> rows = summarize_rows(table, inputs.runs);
  const std::vector<Ordering> orderings = compute_orderings(table, rows);
  std::string md;
  auto line = [&md](const std::string& s) { md += s + "\n"; };

  std::set<std::string> devices, data;
  double train_total = 0, row_total = 0;
  for (const auto& r : inputs.runs) {
    if (!r.device.empty()) devices.insert(r.device);
    if (!r.data.empty()) data.insert(r.data);
    if (std::isfinite(r.train_seconds)) train_total += r.train_seconds;
    if (std::isfinite(r.row_seconds)) row_total += r.row_seconds;
  }
  auto listed = [](const std::set<std::string>& items) {
    std::string s;
    for (const auto& d : items) s += (s.empty() ? "" : ", ") + d;
    return s.empty() ? std::string("unknown") : s;
  };

  line(fmt::format("# {}, reproduced at small scale", table.title));
  line("");
  line(table.task);
  line("");
  line(fmt::format("Data: {}. Device: {}. {} runs in {} rows; training {:.0f} s, training + averaging + evaluation "
                   "{:.0f} s in all.",
                   listed(data), listed(devices), inputs.runs.size(), rows.size(), train_total, row_total));
  line("");
  line("## Results");
  line("");
  line("Cells with several seeds read `mean ± h`: h is the half-width of the 95% confidence interval of the mean "
       "(Student t, n - 1 degrees of freedom). Every run evaluates the average of its last checkpoints. \"paper\" "
       "columns hold the paper's value for the row it reproduces. \"steps\": the optimizer steps of the row's seeds "
       "(a range where they differ), with how many stopped because dev ln(PPL) had stopped falling "
       "(train.stop_patience; the others ran train.max_steps).");
  line("");
  if (table.translation) {
    line("| config | paper row | h | g | d_k | d_ff | window | params | seeds | steps | dev ln(PPL) | paper | dev BLEU "
         "(greedy) | paper | test BLEU beam 1 | paper | test BLEU beam k | paper | train s |");
    line("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  } else {
    line("| config | paper row | h | g | d_k | d_ff | params | seeds | steps | dev ln(PPL) per token | dev PPL per "
         "word | paper dev PPL | test PPL per word | WikiText-103 test PPL per word | train s |");
    line("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  }
  for (const auto& r : rows) {
    const auto& m = r.model;
    const std::string paper =
        r.paper ? fmt::format("{} (h {}, d_k {}, d_ff {})", r.paper->label, r.paper->heads, r.paper->d_k,
                              r.paper->d_ff)
                : "— (" + to_string(r.kind) + ")";
    std::string seeds;
    for (auto s : r.seeds) seeds += (seeds.empty() ? "" : ",") + std::to_string(s);
    const std::string params = fmt::format("{:.2f}M", r.params / 1e6);
    auto c = [&](Metric metric) { return cell(r.stat(metric), decimals_of(metric)); };
    auto p = [&](Metric metric) { return paper_cell(r.paper, metric); };
    using M = Metric;
    if (table.translation) {
      line(fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} "
                       "| {} |",
                       r.row, paper, m.heads, m.kv_heads, m.d_k, m.d_ff, m.window, params, seeds, steps_cell(r),
                       c(M::ValidLnPpl), p(M::ValidLnPpl), c(M::ValidBleu), p(M::ValidBleu), c(M::TestBleuGreedy),
                       p(M::TestBleuGreedy), c(M::TestBleuBeam), p(M::TestBleuBeam),
                       num(r.stat(M::TrainSeconds).mean, 0)));
    } else {
      line(fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |", r.row, paper,
                       m.heads, m.kv_heads, m.d_k, m.d_ff, params, seeds, steps_cell(r), c(M::ValidLnPpl),
                       c(M::ValidWordPpl), p(M::ValidWordPpl), c(M::TestWordPpl), c(M::WikitextWordPpl),
                       num(r.stat(M::TrainSeconds).mean, 0)));
    }
  }
  line("");
  line(table.transcription_note);
  if (table.translation && !rows.empty() && !rows.front().bleu_signature.empty())
    line(fmt::format("\nBLEU: sacreBLEU-compatible, `{}`; test beam {} with the config's length penalty (the paper's "
                     "test columns are beam 1 and beam 4).",
                     rows.front().bleu_signature, rows.front().beam_size));
  line("");

  line("## Orderings");
  line("");
  line("Computed from the numbers above. \"Worse by\" is positive when the first row is worse (higher ln(PPL), lower "
       "BLEU); the interval is the 95% confidence interval of that difference from Welch's t-test over the seeds "
       "(unequal variances, Welch-Satterthwaite degrees of freedom). Where the paper's row is worse (\"worse\"), the "
       "data support it when the interval lies above 0, contradict it when it lies below 0, and are inconclusive "
       "when it holds 0. Where the paper's rows are equal within its rounding (\"same\"), the data support it when "
       "the interval holds 0 (no difference found: the interval's width bounds what the seeds could miss) and "
       "contradict it otherwise. \"Paper's difference inside\" says whether the paper's own difference is a "
       "plausible value of ours.");
  line("");
  line("| metric | ordering | paper expects | paper: worse by | ours: worse by [95% CI] (test) | paper's difference "
       "inside | the data |");
  line("|---|---|---|--:|---|---|---|");
  for (const auto& o : orderings) {
    const int dec = decimals_of(o.metric);
    const bool judged = o.support != Support::NotJudged;
    line(fmt::format("| {} | {} ({} vs {}) | {} | {} | {} | {} | {} |", metric_name(o.metric), o.claim, o.row,
                     o.reference, o.expected, signed_num(o.paper_worse_by, dec), o.verdict,
                     judged && std::isfinite(o.paper_worse_by) ? (o.paper_inside ? "yes" : "no") : "—",
                     to_string(o.support)));
  }
  line("");

  line("## Runs");
  line("");
  line("| run dir | config | seed | device | steps | stopped | train s | row s (train + average + eval) |");
  line("|---|---|--:|---|--:|---|--:|--:|");
  for (const auto& r : inputs.runs)
    line(fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |", r.dir, r.config_path, r.seed, r.device, r.steps,
                     r.converged ? "converged" : "max_steps", num(r.train_seconds, 0), num(r.row_seconds, 0)));
  if (!inputs.unreadable.empty()) {
    line("");
    line("Not reported (no finished result):");
    line("");
    for (const auto& u : inputs.unreadable) line("- " + u);
  }
  line("");

  line("## Commands");
  line("");
  line("Per run, as the script ran them:");
  line("");
  line("```");
  for (const auto& r : inputs.runs) {
    line(fmt::format("# {} (seed {})", r.row, r.seed));
    for (const auto& c : r.commands) line(c);
  }
  line("```");
  return md;
}

}  // namespace mqa
