// `mqa report`: run directories read back, seeds grouped, paper rows matched by attention shape, and the paper's
// orderings judged against the seed spread. Run directories are fabricated in a temp folder.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "mqa/config/config.h"
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
  tmp.write(dir.substr(tmp.path().size()) + "/result.json",
            fmt::format("{{\n  \"table\": \"{}\",\n  \"row\": \"{}\",\n  \"config\": \"configs/x/{}.yaml\",\n"
                        "  \"seed\": {},\n  \"params\": 12345678,\n  \"device\": \"NVIDIA H100\",\n  \"steps\": 700,\n"
                        "  \"train_seconds\": 36,\n  \"row_seconds\": 50,\n  \"commands\": [\"mqa train \\\"x\\\"\"],\n"
                        "  \"valid\": {{\"split\": \"valid\", \"ln_ppl\": {}, \"word_ppl\": {}}},\n  \"test\": {}\n}}\n",
                        f.table, f.row, f.row, f.seed, f.valid_ln_ppl, f.word_ppl, test));
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

TEST(Report, SeedsOfOneRowAreAveragedWithTheirRange) {
  TempDir tmp;
  auto runs = read_all({write_run(tmp, row("base", 8, 8, 64, 0, 1.50, 1)), write_run(tmp, row("base", 8, 8, 64, 0, 1.54, 2)),
                        write_run(tmp, row("multi_query", 8, 1, 64, 0, 1.60))});
  const auto rows = mqa::summarize_rows(mqa::paper_table("table1"), runs);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].row, "base");  // the paper's order: multi-head first
  EXPECT_EQ(rows[0].valid_ln_ppl.n, 2);
  EXPECT_NEAR(rows[0].valid_ln_ppl.mean, 1.52, 1e-12);
  EXPECT_NEAR(rows[0].valid_ln_ppl.range(), 0.04, 1e-12);
  EXPECT_EQ(rows[0].seeds, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(rows[1].valid_ln_ppl.n, 1);
  EXPECT_TRUE(std::isnan(rows[1].valid_ln_ppl.range()));
}

TEST(Report, OneRowNameWithTwoModelsIsAnError) {
  TempDir tmp;
  auto runs = read_all({write_run(tmp, row("base", 8, 8, 64, 0, 1.5, 1)), write_run(tmp, row("base", 8, 1, 64, 0, 1.5, 2))});
  EXPECT_THROW(mqa::summarize_rows(mqa::paper_table("table1"), runs), std::runtime_error);
}

TEST(Report, OrderingsAreJudgedAgainstTheSeedSpread) {
  TempDir tmp;
  // Multi-head seeds 1.50 / 1.54 (spread 0.04), multi-query 1.55 / 1.56: MQA worse by 0.035, inside the spread.
  auto runs = read_all({
      write_run(tmp, row("base", 8, 8, 64, 0, 1.50, 1)), write_run(tmp, row("base", 8, 8, 64, 0, 1.54, 2)),
      write_run(tmp, row("multi_query", 8, 1, 64, 0, 1.55, 1)), write_run(tmp, row("multi_query", 8, 1, 64, 0, 1.56, 2)),
      write_run(tmp, row("multi_head_local", 8, 8, 64, 16, 1.70)),   // local worse by 0.18: beyond the spread
      write_run(tmp, row("multi_query_local", 8, 1, 64, 16, 1.57)),  // local worse by 0.015: inside
      write_run(tmp, row("heads1_dk64", 1, 1, 64, 0, 1.70)),         // worse than MQA by 0.145: holds
      write_run(tmp, row("heads8_dk8", 8, 8, 8, 0, 1.56)),           // worse by 0.005: inside, does not hold
      write_run(tmp, row("heads2_dk32", 2, 2, 32, 0, 1.40)),         // better than MQA: does not hold
  });
  const auto& table = mqa::paper_table("table1");
  const auto rows = mqa::summarize_rows(table, runs);
  EXPECT_NEAR(mqa::seed_spread(rows, mqa::Metric::ValidLnPpl), 0.04, 1e-12);
  const auto all = mqa::compute_orderings(table, rows);
  const auto V = mqa::Metric::ValidLnPpl;

  const auto& mq = find(all, "multi-query vs multi-head", V);
  EXPECT_NEAR(mq.worse_by, 0.035, 1e-12);
  EXPECT_NEAR(mq.paper_worse_by, 0.015, 1e-12);
  EXPECT_TRUE(mq.holds);
  EXPECT_NE(mq.verdict.find("within seed spread"), std::string::npos) << mq.verdict;

  const auto& mhl = find(all, "multi-head local vs multi-head", V);
  EXPECT_FALSE(mhl.holds);
  EXPECT_NE(mhl.verdict.find("worse by 0.180"), std::string::npos) << mhl.verdict;
  EXPECT_TRUE(find(all, "multi-query local vs multi-query", V).holds);

  EXPECT_TRUE(find(all, "h 1 d_k 64 vs multi-query", V).holds);
  EXPECT_FALSE(find(all, "h 8 d_k 8 vs multi-query", V).holds);
  const auto& better = find(all, "h 2 d_k 32 vs multi-query", V);
  EXPECT_FALSE(better.holds);
  EXPECT_NE(better.verdict.find("better by"), std::string::npos) << better.verdict;

  // BLEU has no spread here (equal BLEU for both seeds gives a range of 0): differences beyond 0 are judged.
  const auto& bleu = find(all, "multi-query vs multi-head", mqa::Metric::BleuBeam);
  EXPECT_NEAR(bleu.worse_by, 0.0, 1e-12);
  EXPECT_TRUE(bleu.holds);
}

TEST(Report, OneSeedPerRowLeavesOrderingsUnjudged) {
  TempDir tmp;
  auto runs = read_all({write_run(tmp, row("base", 8, 8, 64, 0, 1.50)), write_run(tmp, row("multi_query", 8, 1, 64, 0, 1.60))});
  const auto& table = mqa::paper_table("table1");
  const auto all = mqa::compute_orderings(table, mqa::summarize_rows(table, runs));
  const auto& mq = find(all, "multi-query vs multi-head", mqa::Metric::ValidLnPpl);
  EXPECT_TRUE(std::isnan(mq.yardstick));
  EXPECT_FALSE(mq.holds);
  EXPECT_NE(mq.verdict.find("no seed spread"), std::string::npos) << mq.verdict;
  const std::string md = mqa::render_report(table, {runs, {}});
  EXPECT_NE(md.find("not judged"), std::string::npos);
}

TEST(Report, Table3MarkdownPutsOurNumbersBesideThePapers) {
  TempDir tmp;
  auto lm = [&](std::string name, int h, int g, int dk, double ln, int seed, std::string word) {
    FakeRun f = row(std::move(name), h, g, dk, 0, ln, seed);
    f.table = "table3";
    f.type = "lm";
    f.word_ppl = std::move(word);
    return write_run(tmp, f);
  };
  auto runs = read_all({lm("base", 8, 8, 64, 3.80, 1, "60.5"), lm("base", 8, 8, 64, 3.82, 2, "61.5"),
                        lm("multi_query", 8, 1, 64, 3.83, 1, "62.0"), lm("heads4_dk16", 4, 4, 16, 3.95, 1, "70.0")});
  const auto& table = mqa::paper_table("table3");
  const std::string md = mqa::render_report(table, {runs, {"gone: no result.json"}});
  EXPECT_NE(md.find("| base | multi-head (h 8, d_k 128, d_ff 8192)"), std::string::npos) << md;
  EXPECT_NE(md.find("3.810 (3.800..3.820)"), std::string::npos) << md;
  EXPECT_NE(md.find("61.00 (60.50..61.50)"), std::string::npos) << md;
  EXPECT_NE(md.find("| 29.9 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 31.0 |"), std::string::npos) << md;  // h 4 matched to the paper's h 4 d_k 32 row
  EXPECT_NE(md.find("gone: no result.json"), std::string::npos);
  const auto all = mqa::compute_orderings(table, mqa::summarize_rows(table, runs));
  const auto& reduced = find(all, "h 4 d_k 16 vs multi-query", mqa::Metric::ValidLnPpl);
  EXPECT_TRUE(reduced.holds);
  EXPECT_NEAR(reduced.paper_worse_by, std::log(31.0) - std::log(30.2), 1e-12);
  EXPECT_EQ(all.size(), 2u);  // no local rows and no BLEU in Table 3
}

TEST(Report, UnknownTableIsAnError) { EXPECT_THROW(mqa::paper_table("table2"), std::invalid_argument); }

}  // namespace
