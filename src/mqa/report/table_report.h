// `mqa report`: the runs of one table grouped into rows (seeds averaged, with a 95% confidence interval), the
// paper's orderings checked against our numbers, and the markdown that puts both beside the paper's.
//
// Statistics (report/student_t.h): a row's cell is the mean over its seeds +- the half-width of the 95% Student-t
// interval (n - 1 degrees of freedom). An ordering compares two rows with Welch's t-test (unequal variances, Welch-
// Satterthwaite degrees of freedom) and its 95% interval of the difference of means:
//   expected "worse" (the paper's row is worse: reduced heads vs multi-query; multi-query vs multi-head in ln PPL):
//     supported when the interval lies above 0, contradicted when it lies below 0, inconclusive when it holds 0;
//   expected "same" (the paper's difference is within its rounding: local vs global; multi-query vs multi-head in
//     BLEU): supported when the interval holds 0 (no difference found; its width says how large a difference the
//     seeds could have missed), contradicted otherwise.
// Fewer than two seeds on either side: not judged.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "mqa/report/paper_tables.h"
#include "mqa/report/run_result.h"
#include "mqa/report/student_t.h"

namespace mqa {

// What a row is measured by. ValidLnWordPpl is ln of the dev per-word perplexity (Table 3's paper metric, in ln
// so that differences compare with the paper's ln differences).
enum class Metric {
  ValidLnPpl, ValidBleu, TestBleuGreedy, TestBleuBeam, ValidWordPpl, ValidLnWordPpl, TestWordPpl, WikitextWordPpl,
  TrainSeconds, RowSeconds
};
std::string metric_name(Metric metric);
// BLEU: higher is better; perplexities and seconds: lower.
bool higher_is_better(Metric metric);
// The paper's value of a metric for a row; NaN where the paper has none.
double paper_value(const PaperRow& row, Metric metric);
// A metric of one run; NaN when the run did not measure it.
double run_value(const RunResult& run, Metric metric);

struct RowSummary {
  std::string row;                 // config name
  const PaperRow* paper = nullptr; // the paper row it reproduces, if any
  AttentionKind kind = AttentionKind::Other;
  ModelConfig model;               // of the first seed (the seeds of a row share it)
  int64_t params = 0;
  std::vector<int64_t> seeds;
  int64_t steps = 0, min_steps = 0;  // over the seeds (they differ where runs stop on converging)
  int64_t converged = 0;             // seeds that stopped on converging (train.stop_patience)
  int64_t beam_size = 0;
  std::string bleu_signature;
  std::map<Metric, std::vector<double>> values;  // per seed, in seed order; NaN where a run has none

  const std::vector<double>& of(Metric metric) const;
  MeanInterval stat(Metric metric) const { return mean_interval(of(metric)); }
};

// Groups runs by row name, in the paper's row order (rows no paper row matches last, by name). Throws when the
// runs of one row disagree on the model (a row name reused for another config).
std::vector<RowSummary> summarize_rows(const PaperTable& table, const std::vector<RunResult>& runs);

enum class Support { Supported, Contradicted, Inconclusive, NotJudged };
std::string to_string(Support support);

// One of the paper's orderings, computed from our numbers.
struct Ordering {
  std::string claim;       // e.g. "multi-query vs multi-head"
  std::string row, reference;
  Metric metric;
  std::string expected;    // "worse" or "same" (see the top of this file)
  double paper_worse_by;   // how much worse the paper's row is than its reference (NaN: not known)
  WelchTest test;          // of worse_by = row - reference, oriented so that positive is worse
  Support support = Support::NotJudged;
  bool paper_inside = false;  // the paper's difference lies inside our 95% interval
  std::string verdict;     // a sentence saying what our numbers show
};

// The paper's orderings: multi-query vs multi-head; local vs global (Table 1); each reduced row vs multi-query.
// Table 1 on dev ln(PPL), dev BLEU (when measured) and test BLEU (beam); Table 3 on ln of the dev per-word
// perplexity (per-token ln PPL for runs without per-word numbers).
std::vector<Ordering> compute_orderings(const PaperTable& table, const std::vector<RowSummary>& rows);

struct ReportInputs {
  std::vector<RunResult> runs;
  std::vector<std::string> unreadable;  // "dir: why" of run directories that could not be read
};

// The whole markdown report.
std::string render_report(const PaperTable& table, const ReportInputs& inputs);

}  // namespace mqa
