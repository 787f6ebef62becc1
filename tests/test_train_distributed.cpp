// `mqa train` data-parallel, as torchrun runs it: the tests start the real binary as ranks of one job (RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set; Gloo on CPU) on a small prepared synthetic corpus. They
// rendezvous through a FileStore (MQA_DIST_STORE_FILE) because TCPStore's wait never hears back in this project's
// CI sandbox (gVisor); see test_distributed.cpp.
//
// What is pinned down: two ranks with train.accumulate 1 take the same optimizer steps as one process with
// accumulate 2 (the same batches, the same per-token loss); both ranks share the validation (perplexity and greedy
// BLEU) and log what one process measures; a rank that dies ends the job with a clear error instead of a hang;
// resuming with another world size is refused naming both sizes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "mqa/config/config.h"
#include "mqa/data/dataset.h"
#include "mqa/data/synth.h"
#include "mqa/train/checkpoint.h"
#include "mqa/train/distributed.h"
#include "test_util.h"
#include "tiny_train_config.h"

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ProcessResult {
  int rc;
  std::string log;  // stdout and stderr
};

class TrainDistributed : public ::testing::Test {
 protected:
  // One small corpus for the suite, prepared in-process (SentencePiece and shards) so that runs only train.
  static void SetUpTestSuite() {
    corpus_ = new mqa::test::TempDir();
    if (!mqa::Distributed::has_gloo()) return;  // every test skips (SetUp): no corpus to prepare
    mqa::SynthOptions synth;
    synth.train_sentences = 400;
    synth.eval_sentences = 16;
    mqa::generate_synth_corpus(synth, corpus_->path("raw"));
    // Positions for the corpus's longest pairs (the runs' configs use the same), so that no pair is dropped.
    mqa::Config c = mqa::test::tiny_config({"data.dir=" + corpus_->path("prepared"), "data.vocab_size=120",
                                            "model.max_positions=256", "data.max_len=255"})
                        .config;
    mqa::synth_raw_keys("translation", corpus_->path("raw"), c.data);
    mqa::ensure_data_ready(c);
    data_ = c.data;
  }
  static void TearDownTestSuite() {
    delete corpus_;
    corpus_ = nullptr;
  }
  void SetUp() override {
    // These ranks run on CPU, over Gloo; PyTorch's wheel (the GPU build) ships no gloo headers.
    if (!mqa::Distributed::has_gloo()) GTEST_SKIP() << "this build has no Gloo (LibTorch without gloo headers): no CPU ranks";
  }

  // The tiny model of the training tests on that corpus, without dropout (ranks draw different dropout masks than
  // one process would), 5 steps of batches of at most 96 tokens; written to DIR/config.yaml.
  std::string write_config(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> o = {"model.dropout=0",   "model.max_positions=256", "train.max_steps=5",
                                  "train.log_every=1", "train.valid_every=100",  "train.save_every=100"};
    o.insert(o.end(), extra.begin(), extra.end());
    mqa::Config c = mqa::test::tiny_config(o).config;
    c.data = data_;
    c.data.batch_tokens = 96;
    return dir_.write(name + ".yaml", mqa::config_to_yaml(c));
  }

  // `mqa train ARGS` as one plain process (none of torchrun's variables).
  ProcessResult train_single(const std::string& args) {
    const std::string log = dir_.path("single.log");
    const int status = std::system(("env -u WORLD_SIZE -u RANK -u LOCAL_RANK " + mqa_binary() + " train " + args +
                                    " > " + log + " 2>&1")
                                       .c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(log)};
  }

  // `mqa train ARGS` as ranks 0 .. world_size - 1 of one job, started together; waits for all of them. Each rank
  // runs under timeout(1), so a hang shows as exit status 124 instead of a stuck test.
  std::vector<ProcessResult> train_ranks(int world_size, const std::string& args, const std::string& env = "") {
    const std::string job = "job" + std::to_string(jobs_++);
    std::string cmd = "bash -c '";
    for (int r = 0; r < world_size; ++r) {
      const std::string log = dir_.path(job + ".log" + std::to_string(r));
      cmd += "(RANK=" + std::to_string(r) + " LOCAL_RANK=" + std::to_string(r) + " WORLD_SIZE=" +
             std::to_string(world_size) + " MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 MQA_DIST_STORE_FILE=" +
             dir_.path(job + ".store") + " " + env + " timeout 60 " + mqa_binary() + " train " + args + " > " + log +
             " 2>&1; echo $? > " + log + ".rc) & ";
    }
    cmd += "wait'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    std::vector<ProcessResult> out;
    for (int r = 0; r < world_size; ++r) {
      const std::string log = dir_.path(job + ".log" + std::to_string(r));
      out.push_back({std::atoi(read_text(log + ".rc").c_str()), read_text(log)});
    }
    return out;
  }

  static std::string mqa_binary() { return mqa::test::mqa_binary(); }

  static mqa::test::TempDir* corpus_;
  static mqa::DataConfig data_;
  mqa::test::TempDir dir_;
  int jobs_ = 0;
};

mqa::test::TempDir* TrainDistributed::corpus_ = nullptr;
mqa::DataConfig TrainDistributed::data_;

}  // namespace

// 2 ranks x batch B (accumulate 1) vs 1 process x 2 batches of B (accumulate 2): rank r takes batches r, r + 2, ...
// of the one shuffled order, so step s of both runs trains on batches 2s and 2s + 1, normalised by the same
// global token count. Only the order of float additions may differ (two partial gradient sums added by the
// all-reduce vs accumulated in .grad), so parameters after 5 Adam steps agree to float32 rounding: a relative
// difference of 1e-5 of each tensor's largest entry allows that many ulps of drift through Adam's division by
// sqrt(v), while a wrong shard, a missed batch or a per-rank normalisation moves parameters by ~lr = 1e-3.
TEST_F(TrainDistributed, TwoRanksOfBatchBEqualOneProcessAccumulatingTwoBatches) {
  auto config = write_config("tiny");
  auto ranks = train_ranks(2, config + " --run-dir " + dir_.path("two"));
  ASSERT_EQ(ranks[0].rc, 0) << ranks[0].log;
  ASSERT_EQ(ranks[1].rc, 0) << ranks[1].log;
  auto one = train_single(config + " --run-dir " + dir_.path("one") + " --set train.accumulate=2");
  ASSERT_EQ(one.rc, 0) << one.log;

  EXPECT_NE(ranks[0].log.find("data-parallel over 2 ranks"), std::string::npos) << ranks[0].log;
  EXPECT_EQ(ranks[1].log, "") << "ranks other than 0 stay quiet";

  mqa::CheckpointFile two_ckpt(dir_.path("two/checkpoint_last.pt")), one_ckpt(dir_.path("one/checkpoint_last.pt"));
  EXPECT_EQ(two_ckpt.step(), 5);
  EXPECT_EQ(two_ckpt.train_state().world_size, 2);
  EXPECT_EQ(one_ckpt.train_state().world_size, 1);
  // Both runs counted the same target tokens: the same batches were trained on.
  EXPECT_EQ(two_ckpt.train_state().tokens, one_ckpt.train_state().tokens);
  auto a = two_ckpt.model_tensors(), b = one_ckpt.model_tensors();
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    const double diff = (a[i].second - b[i].second).abs().max().item<double>();
    const double scale = std::max(1e-12, b[i].second.abs().max().item<double>());
    worst = std::max(worst, diff / scale);
    EXPECT_LE(diff / scale, 1e-5) << a[i].first << ": max |two ranks - one process| = " << diff;
  }
  std::cout << "largest relative parameter difference: " << worst << "\n";
  // The parameters did move (a comparison of untrained models would pass trivially).
  auto init = mqa::build_model(one_ckpt.config(), one_ckpt.vocab_size(), one_ckpt.pad_id());
  EXPECT_FALSE(torch::allclose(init->parameters()[0], b[0].second));
}

// The gradient all-reduce overlapped with backward (train.overlap_allreduce: bucket hooks, asynchronous Gloo
// all-reduces started during the last backward) against one all-reduce pass after backward: the same sums of two
// ranks' gradients (a + b per element, whichever bucket carries it), so the same parameters after 5 steps, to the
// bit. The bucket size is small enough for the tiny model to fill several buckets, so the overlap is real.
TEST_F(TrainDistributed, OverlappedAllReduceGivesTheParametersOfAllReducingAfterBackward) {
  auto config = write_config("tiny");
  const std::string buckets = " --set train.allreduce_bucket_bytes=4096";
  auto overlapped = train_ranks(2, config + " --run-dir " + dir_.path("overlapped") + buckets);
  auto after = train_ranks(2, config + " --run-dir " + dir_.path("after") + buckets +
                                  " --set train.overlap_allreduce=false");
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(overlapped[r].rc, 0) << overlapped[r].log;
    ASSERT_EQ(after[r].rc, 0) << after[r].log;
  }
  EXPECT_NE(overlapped[0].log.find("buckets during backward"), std::string::npos) << overlapped[0].log;
  EXPECT_EQ(after[0].log.find("buckets during backward"), std::string::npos) << after[0].log;
  auto a = mqa::CheckpointFile(dir_.path("overlapped/checkpoint_last.pt")).model_tensors();
  auto b = mqa::CheckpointFile(dir_.path("after/checkpoint_last.pt")).model_tensors();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
}

// Validation is sharded (each rank scores dev batches r, r + W, ... and the sums are all-reduced), and so is the
// greedy BLEU of train.valid_bleu_sentences (sentence i on rank i mod W, BLEU statistics summed). What two ranks
// log equals what one process, `mqa eval`, measures on the checkpoint they wrote: the same ln(PPL) (the same batches
// and scorer; only the order of float64 additions differs), the same token count and the same greedy BLEU. Rank 0's
// line names each rank's share, so a rank that scored nothing (rank 0 validating alone while the others wait in a
// collective, and time out on a long validation) fails the test.
TEST_F(TrainDistributed, TwoRanksShareTheValidationAndLogWhatOneProcessMeasures) {
  auto config = write_config("tiny", {"train.valid_bleu_sentences=16"});
  auto ranks = train_ranks(2, config + " --run-dir " + dir_.path("two"));
  ASSERT_EQ(ranks[0].rc, 0) << ranks[0].log;
  ASSERT_EQ(ranks[1].rc, 0) << ranks[1].log;

  std::smatch m;
  ASSERT_TRUE(std::regex_search(ranks[0].log, m, std::regex(R"(\((\d+) tokens; ranks scored (\d+) \+ (\d+)\))")))
      << ranks[0].log;
  const int64_t tokens = std::stoll(m[1]), rank0 = std::stoll(m[2]), rank1 = std::stoll(m[3]);
  EXPECT_GT(rank0, 0);
  EXPECT_GT(rank1, 0);
  EXPECT_EQ(rank0 + rank1, tokens);

  const std::string metrics = read_text(dir_.path("two/metrics.jsonl"));
  ASSERT_TRUE(std::regex_search(
      metrics, m, std::regex(R"re(\{"split":"valid","step":5,"ln_ppl":([^,]+),"ppl":[^,]+,"tokens":(\d+),)re"
                             R"re("elapsed":[^,]+,"valid_bleu":([^}]+)\})re")))
      << metrics;
  const double valid_ln_ppl = std::stod(m[1]), valid_bleu = std::stod(m[3]);
  EXPECT_EQ(std::stoll(m[2]), tokens);

  // One process on the same checkpoint: perplexity over the whole valid split, greedy BLEU of its first 16 lines.
  const std::string eval_log = dir_.path("eval.json");
  const int status = std::system((mqa_binary() + " eval " + dir_.path("two/checkpoint_last.pt") +
                                  " --device cpu --split valid --bleu-sentences 16 --set decode.beam_size=1 --quiet > " +
                                  eval_log + " 2>&1")
                                     .c_str());
  const std::string eval = read_text(eval_log);
  ASSERT_EQ(status, 0) << eval;
  ASSERT_TRUE(std::regex_search(eval, m, std::regex(R"re("tokens": (\d+),\s*"sequences": \d+,\s*"ln_ppl": ([^,]+),)re")))
      << eval;
  EXPECT_EQ(std::stoll(m[1]), tokens);
  EXPECT_NEAR(std::stod(m[2]), valid_ln_ppl, 1e-12 * std::abs(valid_ln_ppl));
  ASSERT_TRUE(std::regex_search(eval, m, std::regex(R"re("beam": 1,[^}]*"bleu": ([^,]+),)re"))) << eval;
  // After 5 steps the greedy outputs share no word with the references (BLEU 0), so this pins down the plumbing;
  // that the summed statistics give the whole corpus's score, BleuStatistics.* shows.
  EXPECT_EQ(std::stod(m[1]), valid_bleu);
}

// Rank 1 vanishes after step 2 (fault injection in cmd_train.cpp); rank 0 fails in its next collective and exits
// non-zero naming the probable cause, well before timeout(1) would have killed a hang.
TEST_F(TrainDistributed, ACrashedRankEndsTheOthersWithAClearError) {
  auto config = write_config("tiny", {"train.max_steps=50"});
  auto ranks = train_ranks(2, config + " --run-dir " + dir_.path("run"),
                           "MQA_TEST_EXIT_AFTER_STEP=1:2 MQA_DIST_TIMEOUT=20");
  EXPECT_EQ(ranks[1].rc, 3) << ranks[1].log;
  EXPECT_NE(ranks[0].rc, 0) << ranks[0].log;
  EXPECT_NE(ranks[0].rc, 124) << "rank 0 hung until timeout(1) killed it";
  EXPECT_NE(ranks[0].log.find("another rank probably crashed or was killed"), std::string::npos) << ranks[0].log;
}

// A checkpoint of one process cannot be resumed by two ranks: each rank's data position and RNG belong to the
// world size that wrote it.
TEST_F(TrainDistributed, ResumingWithAnotherWorldSizeIsRefusedNamingBothSizes) {
  auto config = write_config("tiny", {"train.max_steps=2"});
  ASSERT_EQ(train_single(config + " --run-dir " + dir_.path("run")).rc, 0);
  auto ranks = train_ranks(2, config + " --run-dir " + dir_.path("run") + " --resume --set train.max_steps=4");
  for (int r = 0; r < 2; ++r) {
    EXPECT_NE(ranks[r].rc, 0) << ranks[r].log;
    EXPECT_NE(ranks[r].rc, 124) << "rank " << r << " hung";
    EXPECT_NE(ranks[r].log.find("world size 1 but this run has world size 2"), std::string::npos) << ranks[r].log;
  }
  EXPECT_EQ(mqa::CheckpointFile(dir_.path("run/checkpoint_last.pt")).step(), 2);  // left as it was
}
