// `mqa report`: run directories read back, seeds grouped with Student-t intervals, paper rows matched by attention
// shape, and the paper's orderings judged by Welch's t-test. Run directories are fabricated in a temp folder; the
// reference values of the statistics were computed independently with mpmath 1.3 (30 digits: betainc for the t
// distribution, findroot for its quantiles).
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "mqa/config/config.h"
#include "mqa/report/student_t.h"
#include "mqa/report/table_report.h"
#include "test_util.h"

namespace {

using mqa::test::TempDir;

struct FakeRun {
  std::string table = "table1", row = "base";
  int seed = 1;
  int heads = 8, kv_heads = 8, d_k = 64, d_ff = 2048, window = 0;
  std::string type = "seq2seq";
  double valid_ln_ppl = 1.5, bleu1 = 30.0, bleu4 = 31.0;
  std::string word_ppl = "null";
  std::string valid_bleu = "";     // seq2seq: the dev evaluation decoded greedily with this BLEU
  std::string wikitext_ppl = "";   // lm: a "wikitext103" evaluation with this word_ppl
  int steps = 700;
  std::string converged = "";      // "true" / "false": the scripts' "converged" key; empty: absent (older runs)
};

// Writes RUN_DIR/config.yaml (a valid resolved config) and RUN_DIR/result.json as the scripts do.
std::string write_run(const TempDir& tmp, const FakeRun& f) {
  const std::string dir = tmp.path(fmt::format("{}_seed{}", f.row, f.seed));
  mqa::Config c = mqa::default_config().config;
  c.model.type = f.type;
  c.model.d_model = 512;
  c.model.heads = f.heads;
  c.model.kv_heads = f.kv_heads;
  c.model.d_k = c.model.d_v = f.d_k;
  c.model.d_ff = f.d_ff;
  c.model.window = f.window;
  tmp.write(dir.substr(tmp.path().size()) + "/config.yaml", mqa::config_to_yaml(c));
  const std::string test =
      f.type == "seq2seq"
          ? fmt::format("{{\"ln_ppl\": 1.7, \"decode\": [{{\"beam\": 1, \"bleu\": {}, \"bleu_signature\": \"sig\"}}, "
                        "{{\"beam\": 4, \"bleu\": {}, \"bleu_signature\": \"sig\"}}]}}",
                        f.bleu1, f.bleu4)
          : fmt::format("{{\"ln_ppl\": 3.9, \"word_ppl\": {}}}", f.word_ppl);
  const std::string valid_decode =
      f.valid_bleu.empty() ? "" : fmt::format(", \"decode\": [{{\"beam\": 1, \"bleu\": {}}}]", f.valid_bleu);
  const std::string wikitext =
      f.wikitext_ppl.empty()
          ? ""
          : fmt::format(",\n  \"wikitext103\": {{\"ln_ppl\": 3.1, \"word_ppl\": {}}}", f.wikitext_ppl);
  tmp.write(dir.substr(tmp.path().size()) + "/result.json",
            fmt::format("{{\n  \"table\": \"{}\",\n  \"row\": \"{}\",\n  \"config\": \"configs/x/{}.yaml\",\n"
                        "  \"seed\": {},\n  \"params\": 12345678,\n  \"device\": \"NVIDIA H100\",\n  \"steps\": {},\n{}"
                        "  \"train_seconds\": 36,\n  \"row_seconds\": 50,\n  \"commands\": [\"mqa train \\\"x\\\"\"],\n"
                        "  \"valid\": {{\"split\": \"valid\", \"ln_ppl\": {}, \"word_ppl\": {}{}}},\n"
                        "  \"test\": {}{}\n}}\n",
                        f.table, f.row, f.row, f.seed, f.steps,
                        f.converged.empty() ? "" : "  \"converged\": " + f.converged + ",\n", f.valid_ln_ppl,
                        f.word_ppl, valid_decode, test, wikitext));
  return dir;
}

FakeRun row(std::string name, int h, int g, int dk, int window, double ln_ppl, int seed = 1) {
  FakeRun f;
  f.row = std::move(name);
  f.heads = h;
  f.kv_heads = g;
  f.d_k = dk;
  f.window = window;
  f.valid_ln_ppl = ln_ppl;
  f.seed = seed;
  return f;
}

std::vector<mqa::RunResult> read_all(const std::vector<std::string>& dirs) {
  std::vector<mqa::RunResult> runs;
  for (const auto& d : dirs) runs.push_back(mqa::read_run_result(d));
  return runs;
}

const mqa::Ordering& find(const std::vector<mqa::Ordering>& all, const std::string& claim, mqa::Metric m) {
  for (const auto& o : all)
    if (o.claim == claim && o.metric == m) return o;
  throw std::runtime_error("no ordering " + claim);
}

TEST(Report, ReadsResultJsonAndTheRunConfig) {
  TempDir tmp;
  FakeRun f = row("multi_query", 8, 1, 64, 0, 1.625);
  const auto r = mqa::read_run_result(write_run(tmp, f));
  EXPECT_EQ(r.table, "table1");
  EXPECT_EQ(r.row, "multi_query");
  EXPECT_EQ(r.params, 12345678);
  EXPECT_EQ(r.steps, 700);
  EXPECT_DOUBLE_EQ(r.valid_ln_ppl, 1.625);
  EXPECT_TRUE(std::isnan(r.valid_word_ppl));  // null
  EXPECT_DOUBLE_EQ(r.bleu_greedy, 30.0);
  EXPECT_DOUBLE_EQ(r.bleu_beam, 31.0);
  EXPECT_EQ(r.beam_size, 4);
  EXPECT_EQ(r.model.kv_heads, 1);
  ASSERT_EQ(r.commands.size(), 1u);
  EXPECT_EQ(r.commands[0], "mqa train \"x\"");
}

TEST(Report, UnfinishedRunNamesTheDirectory) {
  TempDir tmp;
  tmp.write("half/config.yaml", "model:\n  type: lm\n");
  try {
    mqa::read_run_result(tmp.path("half"));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("half"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("result.json"), std::string::npos);
  }
}

TEST(Report, AttentionKindComesFromTheModelShape) {
  mqa::ModelConfig m;
  m.d_model = 512;
  m.heads = m.kv_heads = 8;
  m.d_k = 64;
  EXPECT_EQ(mqa::attention_kind(m), mqa::AttentionKind::MultiHead);
  m.window = 16;
  EXPECT_EQ(mqa::attention_kind(m), mqa::AttentionKind::MultiHeadLocal);
  m.kv_heads = 1;
  EXPECT_EQ(mqa::attention_kind(m), mqa::AttentionKind::MultiQueryLocal);
  m.window = 0;
  EXPECT_EQ(mqa::attention_kind(m), mqa::AttentionKind::MultiQuery);
  m.kv_heads = 2;
  EXPECT_EQ(mqa::attention_kind(m), mqa::AttentionKind::Other);  // grouped-query: no paper row
  m.heads = m.kv_heads = 1;
  EXPECT_EQ(mqa::attention_kind(m), mqa::AttentionKind::Reduced);
  const auto* paper = mqa::match_paper_row(mqa::paper_table("table1"), m);
  ASSERT_NE(paper, nullptr);
  EXPECT_EQ(paper->heads, 1);
  EXPECT_DOUBLE_EQ(paper->ln_ppl_dev, 1.518);
}

TEST(ReportStatistics, StudentTQuantilesAndCdfMatchAnIndependentComputation) {
  // mpmath: findroot(cdf(t, df) - 0.975) and 1 - betainc(df/2, 1/2, 0, df/(df+t^2), regularized)/2.
  EXPECT_NEAR(mqa::student_t_quantile(0.975, 1), 12.706204736174705, 1e-9);
  EXPECT_NEAR(mqa::student_t_quantile(0.975, 2), 4.3026527297494639, 1e-10);
  EXPECT_NEAR(mqa::student_t_quantile(0.975, 2.5), 3.5746548420036832, 1e-10);
  EXPECT_NEAR(mqa::student_t_quantile(0.975, 4), 2.7764451051977944, 1e-10);
  EXPECT_NEAR(mqa::student_t_quantile(0.975, 30), 2.0422724563012383, 1e-10);
  EXPECT_NEAR(mqa::student_t_quantile(0.025, 4), -2.7764451051977944, 1e-10);
  EXPECT_NEAR(mqa::student_t_cdf(-1.5, 3.7), 0.10679908460100677, 1e-12);
  EXPECT_NEAR(mqa::student_t_cdf(0.3, 1), 0.59277357907774234, 1e-12);
  EXPECT_NEAR(mqa::student_t_cdf(12, 5), 0.99996455253741419, 1e-12);
  EXPECT_DOUBLE_EQ(mqa::student_t_cdf(0, 7), 0.5);
}

TEST(ReportStatistics, MeanIntervalUsesNMinusOneDegreesOfFreedom) {
  const auto m = mqa::mean_interval({1.50, 1.52, 1.55, std::nan("")});  // the NaN (a missing run) is left out
  EXPECT_EQ(m.n, 3);
  EXPECT_NEAR(m.mean, 1.5233333333333334, 1e-12);
  EXPECT_NEAR(m.half_width, 0.062516094793757833, 1e-12);  // t(0.975, 2) * sd / sqrt(3)
  EXPECT_TRUE(std::isnan(mqa::mean_interval({1.5}).half_width));
  EXPECT_EQ(mqa::mean_interval({}).n, 0);
}

TEST(ReportStatistics, WelchTestMatchesAnIndependentComputation) {
  // Unequal sizes and variances: the Welch-Satterthwaite df is not an integer.
  const auto w = mqa::welch_test({1.50, 1.52, 1.55}, {1.60, 1.58, 1.70, 1.62});
  EXPECT_NEAR(w.difference, -0.10166666666666667, 1e-12);
  EXPECT_NEAR(w.standard_error, 0.030046260628866577, 1e-12);
  EXPECT_NEAR(w.df, 4.4841859477817873, 1e-10);
  EXPECT_NEAR(w.t, -3.3836711969738976, 1e-10);
  EXPECT_NEAR(w.p_two_sided, 0.023200161057121108, 1e-10);
  EXPECT_NEAR(w.lo, -0.18165334824020057, 1e-10);
  EXPECT_NEAR(w.hi, -0.021679985093132761, 1e-10);
  // One seed on a side: no test. No variance on either side: the difference is exact.
  EXPECT_TRUE(std::isnan(mqa::welch_test({1.5}, {1.6, 1.7}).lo));
  const auto exact = mqa::welch_test({2.0, 2.0}, {1.5, 1.5});
  EXPECT_DOUBLE_EQ(exact.lo, 0.5);
  EXPECT_DOUBLE_EQ(exact.p_two_sided, 0.0);
}

TEST(Report, SeedsOfOneRowAreAveragedWithAStudentTInterval) {
  TempDir tmp;
  auto runs = read_all({write_run(tmp, row("base", 8, 8, 64, 0, 1.50, 1)), write_run(tmp, row("base", 8, 8, 64, 0, 1.54, 2)),
                        write_run(tmp, row("multi_query", 8, 1, 64, 0, 1.60))});
  const auto rows = mqa::summarize_rows(mqa::paper_table("table1"), runs);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].row, "base");  // the paper's order: multi-head first
  const auto s = rows[0].stat(mqa::Metric::ValidLnPpl);
  EXPECT_EQ(s.n, 2);
  EXPECT_NEAR(s.mean, 1.52, 1e-12);
  EXPECT_NEAR(s.half_width, 12.706204736174705 * 0.04 / std::sqrt(2.0) / std::sqrt(2.0), 1e-9);  // sd = 0.04 / sqrt 2
  EXPECT_EQ(rows[0].seeds, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(rows[1].stat(mqa::Metric::ValidLnPpl).n, 1);
  EXPECT_TRUE(std::isnan(rows[1].stat(mqa::Metric::ValidLnPpl).half_width));
}

// Runs that stop on converging (train.stop_patience) differ in steps: the row shows the range and how many seeds
// converged, the run list why each stopped; result.json files without the key (fixed-step runs) read as max_steps.
TEST(Report, StepsOfSeedsThatConvergedAtDifferentSteps) {
  TempDir tmp;
  FakeRun a = row("base", 8, 8, 64, 0, 1.50, 1), b = row("base", 8, 8, 64, 0, 1.52, 2);
  FakeRun c = row("base", 8, 8, 64, 0, 1.51, 3), d = row("multi_query", 8, 1, 64, 0, 1.60);
  a.steps = 3250, a.converged = "true";
  b.steps = 4500, b.converged = "false";
  c.steps = 4000, c.converged = "true";
  auto runs = read_all({write_run(tmp, a), write_run(tmp, b), write_run(tmp, c), write_run(tmp, d)});
  EXPECT_TRUE(runs[0].converged);
  EXPECT_FALSE(runs[1].converged);
  EXPECT_FALSE(runs[3].converged);  // no key
  const auto& table = mqa::paper_table("table1");
  const auto rows = mqa::summarize_rows(table, runs);
  EXPECT_EQ(rows[0].min_steps, 3250);
  EXPECT_EQ(rows[0].steps, 4500);
  EXPECT_EQ(rows[0].converged, 2);
  const std::string md = mqa::render_report(table, {runs, {}});
  EXPECT_NE(md.find("| 1,2,3 | 3250-4500 (2/3 converged) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1 | 700 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 3250 | converged |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 4500 | max_steps |"), std::string::npos) << md;
}

TEST(Report, OneRowNameWithTwoModelsIsAnError) {
  TempDir tmp;
  auto runs = read_all({write_run(tmp, row("base", 8, 8, 64, 0, 1.5, 1)), write_run(tmp, row("base", 8, 1, 64, 0, 1.5, 2))});
  EXPECT_THROW(mqa::summarize_rows(mqa::paper_table("table1"), runs), std::runtime_error);
}

TEST(Report, OrderingsAreJudgedByWelchIntervals) {
  TempDir tmp;
  std::vector<std::string> dirs;
  auto add = [&](const std::string& name, int h, int g, int dk, int window, std::vector<double> ln_ppl) {
    for (size_t i = 0; i < ln_ppl.size(); ++i)
      dirs.push_back(write_run(tmp, row(name, h, g, dk, window, ln_ppl[i], static_cast<int>(i) + 1)));
  };
  add("base", 8, 8, 64, 0, {1.50, 1.52, 1.55});
  add("multi_query", 8, 1, 64, 0, {1.60, 1.58, 1.70, 1.62});  // worse by 0.102 [0.022, 0.182]: supported
  add("multi_head_local", 8, 8, 64, 16, {1.49, 1.53, 1.56});  // inside the noise: "same" supported
  add("multi_query_local", 8, 1, 64, 16, {1.20, 1.21, 1.22}); // far better than multi-query: "same" contradicted
  add("heads1_dk64", 1, 1, 64, 0, {1.62, 1.61, 1.66});        // inside the noise of multi-query: inconclusive
  add("heads2_dk32", 2, 2, 32, 0, {1.40, 1.41, 1.42});        // better than multi-query: contradicted
  add("heads8_dk8", 8, 8, 8, 0, {1.90});                      // one seed: not judged
  const auto& table = mqa::paper_table("table1");
  const auto rows = mqa::summarize_rows(table, read_all(dirs));
  const auto all = mqa::compute_orderings(table, rows);
  const auto V = mqa::Metric::ValidLnPpl;

  const auto& mq = find(all, "multi-query vs multi-head", V);
  EXPECT_EQ(mq.expected, "worse");
  EXPECT_NEAR(mq.test.difference, 0.10166666666666667, 1e-12);  // the Welch example above, row minus reference
  EXPECT_NEAR(mq.test.lo, 0.021679985093132761, 1e-10);
  EXPECT_NEAR(mq.test.hi, 0.18165334824020057, 1e-10);
  EXPECT_NEAR(mq.paper_worse_by, 0.015, 1e-12);
  EXPECT_EQ(mq.support, mqa::Support::Supported);
  EXPECT_FALSE(mq.paper_inside);  // 0.015 < 0.022: ours is worse than the paper's
  EXPECT_NE(mq.verdict.find("worse by 0.102 [+0.022, +0.182] (Welch t 3.38, df 4.5, p 0.023)"), std::string::npos)
      << mq.verdict;

  EXPECT_EQ(find(all, "multi-head local vs multi-head", V).support, mqa::Support::Supported);
  EXPECT_TRUE(find(all, "multi-head local vs multi-head", V).paper_inside);
  EXPECT_EQ(find(all, "multi-query local vs multi-query", V).support, mqa::Support::Contradicted);
  EXPECT_EQ(find(all, "h 1 d_k 64 vs multi-query", V).support, mqa::Support::Inconclusive);
  const auto& better = find(all, "h 2 d_k 32 vs multi-query", V);
  EXPECT_EQ(better.support, mqa::Support::Contradicted);
  EXPECT_NE(better.verdict.find("better by"), std::string::npos) << better.verdict;
  EXPECT_EQ(find(all, "h 8 d_k 8 vs multi-query", V).support, mqa::Support::NotJudged);

  // BLEU: multi-query vs multi-head is a "same" claim (the paper's BLEU moves by 0.1-0.2 either way); equal BLEU
  // on every seed gives an exact difference of 0, inside.
  const auto& bleu = find(all, "multi-query vs multi-head", mqa::Metric::TestBleuBeam);
  EXPECT_EQ(bleu.expected, "same");
  EXPECT_NEAR(bleu.paper_worse_by, -0.1, 1e-9);  // the paper's multi-query beam-4 BLEU is 0.1 higher
  EXPECT_EQ(bleu.support, mqa::Support::Supported);
  // No run decoded dev: no dev BLEU ordering.
  for (const auto& o : all) EXPECT_NE(o.metric, mqa::Metric::ValidBleu);
}

TEST(Report, OneSeedPerRowLeavesOrderingsUnjudged) {
  TempDir tmp;
  auto runs = read_all({write_run(tmp, row("base", 8, 8, 64, 0, 1.50)), write_run(tmp, row("multi_query", 8, 1, 64, 0, 1.60))});
  const auto& table = mqa::paper_table("table1");
  const auto all = mqa::compute_orderings(table, mqa::summarize_rows(table, runs));
  const auto& mq = find(all, "multi-query vs multi-head", mqa::Metric::ValidLnPpl);
  EXPECT_TRUE(std::isnan(mq.test.lo));
  EXPECT_EQ(mq.support, mqa::Support::NotJudged);
  EXPECT_NE(mq.verdict.find("worse by 0.100; fewer than two seeds"), std::string::npos) << mq.verdict;
  const std::string md = mqa::render_report(table, {runs, {}});
  EXPECT_NE(md.find("not judged"), std::string::npos);
}

TEST(Report, Table1ReadsDevBleuAndShowsThePapersBleuBesideOurs) {
  TempDir tmp;
  std::vector<std::string> dirs;
  for (int seed = 1; seed <= 3; ++seed) {
    FakeRun mh = row("base", 8, 8, 64, 0, 1.50 + 0.01 * seed, seed);
    FakeRun mq = row("multi_query", 8, 1, 64, 0, 1.52 + 0.01 * seed, seed);
    mh.valid_bleu = fmt::format("{}", 20.0 + seed);
    mq.valid_bleu = fmt::format("{}", 19.0 + seed);
    dirs.push_back(write_run(tmp, mh));
    dirs.push_back(write_run(tmp, mq));
  }
  auto runs = read_all(dirs);
  EXPECT_DOUBLE_EQ(runs[0].valid_bleu_greedy, 21.0);
  const auto& table = mqa::paper_table("table1");
  const std::string md = mqa::render_report(table, {runs, {}});
  // dev ln PPL 1.52 ± t(0.975, 2) * 0.01 / sqrt 3 = 0.025, the paper's 1.424; dev BLEU 22.00 ± 2.48 beside 26.7;
  // test BLEU beam 1 / beam 4 beside the paper's 27.7 / 28.4.
  EXPECT_NE(md.find("| 1.520 ± 0.025 | 1.424 | 22.00 ± 2.48 | 26.7 | 30.00 ± 0.00 | 27.7 | 31.00 ± 0.00 | 28.4 |"),
            std::string::npos)
      << md;
  const auto all = mqa::compute_orderings(table, mqa::summarize_rows(table, runs));
  const auto& dev_bleu = find(all, "multi-query vs multi-head", mqa::Metric::ValidBleu);
  EXPECT_NEAR(dev_bleu.test.difference, 1.0, 1e-12);  // multi-query lower by 1 BLEU on every seed
  EXPECT_NEAR(dev_bleu.paper_worse_by, 0.2, 1e-9);
}

TEST(Report, Table3MarkdownPutsOurNumbersBesideThePapers) {
  TempDir tmp;
  auto lm = [&](std::string name, int h, int g, int dk, double ln, int seed, std::string word,
                std::string wikitext = "") {
    FakeRun f = row(std::move(name), h, g, dk, 0, ln, seed);
    f.table = "table3";
    f.type = "lm";
    f.word_ppl = std::move(word);
    f.wikitext_ppl = std::move(wikitext);
    return write_run(tmp, f);
  };
  auto runs = read_all({lm("base", 8, 8, 64, 3.80, 1, "60.5", "80.0"), lm("base", 8, 8, 64, 3.82, 2, "61.5", "82.0"),
                        lm("multi_query", 8, 1, 64, 3.83, 1, "62.0"), lm("multi_query", 8, 1, 64, 3.84, 2, "63.0"),
                        lm("heads4_dk16", 4, 4, 16, 3.95, 1, "70.0"), lm("heads4_dk16", 4, 4, 16, 3.96, 2, "72.0")});
  EXPECT_DOUBLE_EQ(runs[0].wikitext_word_ppl, 80.0);
  const auto& table = mqa::paper_table("table3");
  const std::string md = mqa::render_report(table, {runs, {"gone: no result.json"}});
  EXPECT_NE(md.find("| base | multi-head (h 8, d_k 128, d_ff 8192)"), std::string::npos) << md;
  // ln PPL 3.81 ± 12.706 * 0.01 = 0.127; word PPL 61.00 ± 6.35; WikiText 81.00 ± 12.71.
  EXPECT_NE(md.find("| 3.810 ± 0.127 | 61.00 ± 6.35 | 29.9 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 81.00 ± 12.71 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 31.0 |"), std::string::npos) << md;  // h 4 matched to the paper's h 4 d_k 32 row
  EXPECT_NE(md.find("gone: no result.json"), std::string::npos);
  const auto all = mqa::compute_orderings(table, mqa::summarize_rows(table, runs));
  ASSERT_EQ(all.size(), 2u);  // no local rows and no BLEU in Table 3
  const auto& reduced = find(all, "h 4 d_k 16 vs multi-query", mqa::Metric::ValidLnWordPpl);
  EXPECT_NEAR(reduced.paper_worse_by, std::log(31.0) - std::log(30.2), 1e-12);
  const double h4 = 0.5 * (std::log(70.0) + std::log(72.0)), mq = 0.5 * (std::log(62.0) + std::log(63.0));
  EXPECT_NEAR(reduced.test.difference, h4 - mq, 1e-12);
  EXPECT_EQ(reduced.support, mqa::Support::Supported);
}

TEST(Report, UnknownTableIsAnError) { EXPECT_THROW(mqa::paper_table("table2"), std::invalid_argument); }

}  // namespace
