#include "mqa/report/table_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace mqa {

Stat stat_of(const std::vector<double>& values) {
  Stat s;
  double sum = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    if (s.n == 0 || v < s.min) s.min = v;
    if (s.n == 0 || v > s.max) s.max = v;
    sum += v;
    ++s.n;
  }
  if (s.n > 0) s.mean = sum / s.n;
  return s;
}

namespace {

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

const Stat& stat_for(const RowSummary& r, Metric m) { return m == Metric::ValidLnPpl ? r.valid_ln_ppl : r.bleu_beam; }

// How much worse `row` is than `ref` in the paper; NaN where the paper's number is not known.
double paper_worse_by(const PaperTable& table, const PaperRow* row, const PaperRow* ref, Metric m) {
  if (!row || !ref) return kMissing;
  if (m == Metric::BleuBeam) return ref->bleu_test_beam4 - row->bleu_test_beam4;
  // Table 3 reports perplexity per word: its log is comparable in sign and size to a ln(PPL) difference.
  if (table.translation) return row->ln_ppl_dev - ref->ln_ppl_dev;
  return std::log(row->ppl_dev) - std::log(ref->ppl_dev);
}

std::string num(double v, int decimals) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "—"; }
std::string signed_num(double v, int decimals) {
  return std::isfinite(v) ? fmt::format("{:+.{}f}", v, decimals) : "—";
}

int decimals_of(Metric m) { return m == Metric::ValidLnPpl ? 3 : 2; }

// "mean" for one seed, "mean (min..max)" for more.
std::string cell(const Stat& s, int decimals) {
  if (s.n == 0) return "—";
  if (s.n == 1) return num(s.mean, decimals);
  return fmt::format("{} ({}..{})", num(s.mean, decimals), num(s.min, decimals), num(s.max, decimals));
}

Ordering make_ordering(const PaperTable& table, const std::string& claim, const RowSummary* row,
                       const RowSummary* ref, AttentionKind row_kind, AttentionKind ref_kind, Metric metric,
                       const std::string& expected, double yardstick) {
  Ordering o;
  o.claim = claim;
  o.metric = metric;
  o.expected = expected;
  o.yardstick = yardstick;
  o.row = row ? row->row : to_string(row_kind);
  o.reference = ref ? ref->row : to_string(ref_kind);
  o.paper_worse_by = paper_worse_by(table, row ? row->paper : nullptr, ref ? ref->paper : nullptr, metric);
  o.worse_by = kMissing;
  if (row && ref) {
    const double a = stat_for(*row, metric).mean, b = stat_for(*ref, metric).mean;
    o.worse_by = metric == Metric::ValidLnPpl ? a - b : b - a;
  }
  const int dec = decimals_of(metric);
  const double d = o.worse_by, y = yardstick;
  if (!std::isfinite(d)) {
    o.verdict = "not measured (a row is missing)";
  } else if (!std::isfinite(y)) {
    o.verdict = fmt::format("worse by {}; no seed spread (one seed per row) to judge it", signed_num(d, dec));
  } else if (std::abs(d) <= y) {
    o.verdict = fmt::format("within seed spread (difference {}, spread {})", signed_num(d, dec), num(y, dec));
  } else {
    const double times = y > 0 ? std::abs(d) / y : INFINITY;
    o.verdict = fmt::format("{} by {} ({}x the seed spread {})", d > 0 ? "worse" : "better", num(std::abs(d), dec),
                            std::isfinite(times) ? fmt::format("{:.1f}", times) : "inf", num(y, dec));
  }
  if (std::isfinite(d) && std::isfinite(y)) {
    // "close": the paper shows at most a small loss; it holds unless ours is worse beyond the spread.
    // "same": local and global attention agree in the paper; holds when inside the spread.
    // "worse": the paper's row is clearly worse; holds when ours is worse beyond the spread.
    if (expected == "close") o.holds = d <= y;
    else if (expected == "same") o.holds = std::abs(d) <= y;
    else o.holds = d > y;
  }
  return o;
}

}  // namespace

std::string metric_name(Metric metric) {
  return metric == Metric::ValidLnPpl ? "dev ln(PPL)" : "test BLEU (beam)";
}

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
    std::vector<double> vl, vw, tl, tw, bg, bb, ts, rs;
    for (const RunResult* r : group) {
      if (!same_shape(r->model, s.model))
        throw std::runtime_error(fmt::format("row {}: {} and {} have different models (one row name, two configs?)",
                                             name, group.front()->dir, r->dir));
      s.seeds.push_back(r->seed);
      s.steps = std::max(s.steps, r->steps);
      vl.push_back(r->valid_ln_ppl);
      vw.push_back(r->valid_word_ppl);
      tl.push_back(r->test_ln_ppl);
      tw.push_back(r->test_word_ppl);
      bg.push_back(r->bleu_greedy);
      bb.push_back(r->bleu_beam);
      ts.push_back(r->train_seconds);
      rs.push_back(r->row_seconds);
      s.beam_size = std::max(s.beam_size, r->beam_size);
      if (s.bleu_signature.empty()) s.bleu_signature = r->bleu_signature;
    }
    s.valid_ln_ppl = stat_of(vl);
    s.valid_word_ppl = stat_of(vw);
    s.test_ln_ppl = stat_of(tl);
    s.test_word_ppl = stat_of(tw);
    s.bleu_greedy = stat_of(bg);
    s.bleu_beam = stat_of(bb);
    s.train_seconds = stat_of(ts);
    s.row_seconds = stat_of(rs);
    rows.push_back(std::move(s));
  }
  std::stable_sort(rows.begin(), rows.end(), [&](const RowSummary& a, const RowSummary& b) {
    return paper_index(table, a.paper) < paper_index(table, b.paper);
  });
  return rows;
}

double seed_spread(const std::vector<RowSummary>& rows, Metric metric) {
  double spread = kMissing;
  for (const auto& r : rows) {
    if (r.kind != AttentionKind::MultiHead && r.kind != AttentionKind::MultiQuery) continue;
    const double range = stat_for(r, metric).range();
    if (std::isfinite(range) && !(range <= spread)) spread = range;  // NaN-safe max
  }
  return spread;
}

std::vector<Ordering> compute_orderings(const PaperTable& table, const std::vector<RowSummary>& rows) {
  using K = AttentionKind;
  std::vector<Metric> metrics = {Metric::ValidLnPpl};
  if (table.translation) metrics.push_back(Metric::BleuBeam);
  std::vector<Ordering> out;
  for (Metric m : metrics) {
    const double y = seed_spread(rows, m);
    const RowSummary* mh = find_kind(rows, K::MultiHead);
    const RowSummary* mq = find_kind(rows, K::MultiQuery);
    out.push_back(make_ordering(table, "multi-query vs multi-head", mq, mh, K::MultiQuery, K::MultiHead, m, "close", y));
    if (table.translation) {
      out.push_back(make_ordering(table, "multi-head local vs multi-head", find_kind(rows, K::MultiHeadLocal), mh,
                                  K::MultiHeadLocal, K::MultiHead, m, "same", y));
      out.push_back(make_ordering(table, "multi-query local vs multi-query", find_kind(rows, K::MultiQueryLocal), mq,
                                  K::MultiQueryLocal, K::MultiQuery, m, "same", y));
    }
    for (const auto& r : rows)
      if (r.kind == K::Reduced)
        out.push_back(make_ordering(table, fmt::format("h {} d_k {} vs multi-query", r.model.heads, r.model.d_k), &r,
                                    mq, K::Reduced, K::MultiQuery, m, "worse", y));
  }
  return out;
}

std::string render_report(const PaperTable& table, const ReportInputs& inputs) {
  const std::vector<RowSummary> rows = summarize_rows(table, inputs.runs);
  const std::vector<Ordering> orderings = compute_orderings(table, rows);
  std::string md;
  auto line = [&md](const std::string& s) { md += s + "\n"; };

  std::set<std::string> devices;
  double train_total = 0, row_total = 0;
  for (const auto& r : inputs.runs) {
    if (!r.device.empty()) devices.insert(r.device);
    if (std::isfinite(r.train_seconds)) train_total += r.train_seconds;
    if (std::isfinite(r.row_seconds)) row_total += r.row_seconds;
  }
  std::string device_list;
  for (const auto& d : devices) device_list += (device_list.empty() ? "" : ", ") + d;

  line(fmt::format("# {}, reproduced at small scale", table.title));
  line("");
  line(table.task);
  line("");
  line(fmt::format("Device: {}. {} runs in {} rows; training {:.0f} s, training + averaging + evaluation {:.0f} s "
                   "in all.", device_list.empty() ? "unknown" : device_list, inputs.runs.size(), rows.size(),
                   train_total, row_total));
  line("");
  line("## Results");
  line("");
  line("Cells with several seeds read `mean (min..max)`. Every run evaluates the average of its last checkpoints.");
  line("");
  if (table.translation) {
    line("| config | paper row | h | g | d_k | d_v | d_ff | window | params | seeds | steps | dev ln(PPL) | paper dev "
         "ln(PPL) | test BLEU beam 1 | test BLEU beam 4 | paper BLEU (dev / test b1 / test b4) | train s |");
    line("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  } else {
    line("| config | paper row | h | g | d_k | d_v | d_ff | params | seeds | steps | dev ln(PPL) per token | dev PPL "
         "per word | test PPL per word | paper dev PPL | train s |");
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
    if (table.translation) {
      const std::string paper_bleu =
          r.paper ? fmt::format("{} / {} / {}", num(r.paper->bleu_dev, 1), num(r.paper->bleu_test_beam1, 1),
                                num(r.paper->bleu_test_beam4, 1))
                  : "—";
      line(fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                       r.row, paper, m.heads, m.kv_heads, m.d_k, m.d_v, m.d_ff, m.window, params, seeds, r.steps,
                       cell(r.valid_ln_ppl, 3), r.paper ? num(r.paper->ln_ppl_dev, 3) : "—", cell(r.bleu_greedy, 2),
                       cell(r.bleu_beam, 2), paper_bleu, num(r.train_seconds.mean, 0)));
    } else {
      line(fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |", r.row, paper,
                       m.heads, m.kv_heads, m.d_k, m.d_v, m.d_ff, params, seeds, r.steps, cell(r.valid_ln_ppl, 3),
                       cell(r.valid_word_ppl, 2), cell(r.test_word_ppl, 2), r.paper ? num(r.paper->ppl_dev, 1) : "—",
                       num(r.train_seconds.mean, 0)));
    }
  }
  line("");
  line(table.transcription_note);
  if (table.translation && !rows.empty() && !rows.front().bleu_signature.empty())
    line(fmt::format("\nBLEU: sacreBLEU-compatible, `{}`, beam {} with the config's length penalty.",
                     rows.front().bleu_signature, rows.front().beam_size));
  line("");

  line("## Orderings");
  line("");
  line("Computed from the numbers above. The yardstick is the seed spread: the largest min..max range over the "
       "seeds of the multi-head and multi-query rows. \"Worse by\" is positive when the first row is worse (higher "
       "ln(PPL), lower BLEU). The paper's differences come from its table" +
       std::string(table.translation ? "." : " (ln of its per-word PPL; ours are per token, so compare directions)."));
  line("");
  line("| metric | ordering | paper: worse by | ours: worse by | what ours shows | paper's ordering holds |");
  line("|---|---|--:|--:|---|---|");
  for (const auto& o : orderings) {
    const int dec = decimals_of(o.metric);
    const bool judged = std::isfinite(o.worse_by) && std::isfinite(o.yardstick);
    const std::string expectation = o.expected == "worse" ? "(paper: clearly worse)"
                                    : o.expected == "same" ? "(paper: about equal)"
                                                           : "(paper: close, slightly worse)";
    line(fmt::format("| {} | {} ({} vs {}) | {} | {} | {} | {} {} |", metric_name(o.metric), o.claim, o.row,
                     o.reference, signed_num(o.paper_worse_by, 3), signed_num(o.worse_by, dec), o.verdict,
                     judged ? (o.holds ? "yes" : "no") : "not judged", expectation));
  }
  line("");

  line("## Runs");
  line("");
  line("| run dir | config | seed | device | steps | train s | row s (train + average + eval) |");
  line("|---|---|--:|---|--:|--:|--:|");
  for (const auto& r : inputs.runs)
    line(fmt::format("| {} | {} | {} | {} | {} | {} | {} |", r.dir, r.config_path, r.seed, r.device, r.steps,
                     num(r.train_seconds, 0), num(r.row_seconds, 0)));
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
