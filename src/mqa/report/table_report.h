// `mqa report`: the runs of one table grouped into rows (seeds averaged), the paper's orderings checked against
// our numbers, and the markdown that puts both beside the paper's.
//
// The yardstick for every ordering is the seed spread: the largest min..max range of the multi-head and the
// multi-query rows over their seeds (the scripts train both twice). A difference inside it is "within seed spread".
#pragma once
#include <string>
#include <vector>

#include "mqa/report/paper_tables.h"
#include "mqa/report/run_result.h"

namespace mqa {

// Mean and range of one metric over the seeds of a row; missing (NaN) values are left out.
struct Stat {
  int n = 0;
  double mean = kMissing, min = kMissing, max = kMissing;
  double range() const { return n >= 2 ? max - min : kMissing; }
};
Stat stat_of(const std::vector<double>& values);

struct RowSummary {
  std::string row;                 // config name
  const PaperRow* paper = nullptr; // the paper row it reproduces, if any
  AttentionKind kind = AttentionKind::Other;
  ModelConfig model;               // of the first seed (the seeds of a row share it)
  int64_t params = 0;
  std::vector<int64_t> seeds;
  int64_t steps = 0;
  Stat valid_ln_ppl, valid_word_ppl, test_ln_ppl, test_word_ppl, bleu_greedy, bleu_beam, train_seconds,
      row_seconds;
  int64_t beam_size = 0;
  std::string bleu_signature;
};

// Groups runs by row name, in the paper's row order (rows no paper row matches last, by name). Throws when the
// runs of one row disagree on the model (a row name reused for another config).
std::vector<RowSummary> summarize_rows(const PaperTable& table, const std::vector<RunResult>& runs);

enum class Metric { ValidLnPpl, BleuBeam };
std::string metric_name(Metric metric);

// One of the paper's orderings, computed from our numbers.
struct Ordering {
  std::string claim;       // e.g. "multi-query vs multi-head"
  std::string row, reference;
  Metric metric;
  double paper_worse_by;   // how much worse the paper's row is than its reference (NaN: not known)
  double worse_by;         // ours: positive = row worse than reference (higher ln PPL / lower BLEU)
  double yardstick;        // seed spread (NaN when no row has two seeds)
  bool holds = false;      // the paper's ordering holds in our numbers (see expected)
  std::string expected;    // what the paper shows: "close" (within spread, or worse by a little) or "worse"
  std::string verdict;     // a sentence saying what our numbers show
};

// The seed-spread yardstick for a metric: the largest range over the multi-head and multi-query rows.
double seed_spread(const std::vector<RowSummary>& rows, Metric metric);

// The paper's orderings: multi-query vs multi-head; local vs global (Table 1); each reduced row vs multi-query.
// For Table 1 on dev ln(PPL) and on test BLEU (beam); for Table 3 on dev ln(PPL).
std::vector<Ordering> compute_orderings(const PaperTable& table, const std::vector<RowSummary>& rows);

struct ReportInputs {
  std::vector<RunResult> runs;
  std::vector<std::string> unreadable;  // "dir: why" of run directories that could not be read
};

// The whole markdown report.
std::string render_report(const PaperTable& table, const ReportInputs& inputs);

}  // namespace mqa
