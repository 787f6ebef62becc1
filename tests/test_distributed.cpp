// Data parallelism over c10d (Gloo on CPU): two processes with batch B each take the same optimizer steps as one
// process with the union batch 2B, and a rank that crashes ends the job with an error instead of a hang.
// The parent tests start the worker test below as separate processes with torchrun's variables set, the way
// `torchrun --no-python` starts `mqa train`. They rendezvous through a FileStore (MQA_DIST_STORE_FILE): in this
// project's CI sandbox (gVisor) TCPStore's wait never hears back, so the TCP store is exercised on real machines
// (the GPU runs) rather than here.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "mqa/model/transformer.h"
#include "mqa/train/distributed.h"
#include "test_util.h"

namespace {

constexpr int kRowsPerRank = 3, kSteps = 4, kSeqLen = 8;

mqa::Transformer tiny_lm() {
  mqa::ModelConfig c;
  c.type = "lm";
  c.decoder_layers = 1;
  c.d_model = 16;
  c.heads = 2;
  c.kv_heads = 1;
  c.d_k = 8;
  c.d_v = 8;
  c.d_ff = 32;
  c.dropout = 0;
  c.max_positions = 16;
  torch::manual_seed(1);
  return mqa::Transformer(c, 20, 0);
}

// The union batch of every rank at step s: rows [rank * B, (rank + 1) * B) belong to `rank`.
torch::Tensor step_batch(int step, int world_size) {
  torch::manual_seed(100 + step);
  return torch::randint(1, 20, {kRowsPerRank * world_size, kSeqLen + 1}, torch::kLong);
}

// kSteps of Adam on rows of this rank; the loss is summed over rows and the summed gradient scaled by the global
// row count, so any split of the union batch gives the same update.
std::vector<torch::Tensor> train(mqa::Distributed& dist, int world_size, int crash_rank) {
  auto model = tiny_lm();
  dist.broadcast_parameters(model->parameters());
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
  for (int s = 0; s < kSteps; ++s) {
    if (dist.rank() == crash_rank && s == 2) std::_Exit(3);  // a crash: no goodbye to the other ranks
    auto all = step_batch(s, world_size);
    const int64_t per_rank = all.size(0) / dist.world_size();
    auto rows = all.narrow(0, dist.rank() * per_rank, per_rank);
    opt.zero_grad();
    auto logits = model->forward({}, rows.narrow(1, 0, kSeqLen));
    auto loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, 20}), rows.narrow(1, 1, kSeqLen).reshape(-1),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    loss.backward();
    dist.allreduce_gradients(model->parameters(), 1.0 / (all.size(0) * kSeqLen), 1024);
    opt.step();
  }
  return model->parameters();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs this test binary's worker test as two ranks; returns their exit codes and logs.
struct RankResult {
  int rc;
  std::string log;
};
std::vector<RankResult> launch_two_ranks(const mqa::test::TempDir& dir, int crash_rank) {
  const int port = 20000 + static_cast<int>(getpid() % 20000);
  std::string cmd = "bash -c '";
  for (int r = 0; r < 2; ++r) {
    cmd += "(RANK=" + std::to_string(r) + " LOCAL_RANK=" + std::to_string(r) +
           " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
           " MQA_DIST_STORE_FILE=" + dir.path("store") + " MQA_DIST_TIMEOUT=30 MQA_DIST_CRASH_RANK=" + std::to_string(crash_rank) + " MQA_DIST_OUT=" + dir.path() +
           " timeout 120 /proc/" + std::to_string(getpid()) + "/exe --gtest_filter=DistributedWorker.* > " +
           dir.path("log" + std::to_string(r)) + " 2>&1; echo $? > " + dir.path("rc" + std::to_string(r)) + ") & ";
  }
  cmd += "wait'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::vector<RankResult> out;
  for (int r = 0; r < 2; ++r)
    out.push_back({std::atoi(read_file(dir.path("rc" + std::to_string(r))).c_str()),
                   read_file(dir.path("log" + std::to_string(r)))});
  return out;
}

}  // namespace

// Not a test on its own: the body of one rank, run by the tests below in child processes.
TEST(DistributedWorker, TrainOneRank) {
  const char* out = std::getenv("MQA_DIST_OUT");
  if (!out) GTEST_SKIP() << "runs only as a child of Distributed.* tests";
  auto dist = mqa::Distributed::from_environment(torch::kCPU);
  ASSERT_EQ(dist->world_size(), 2);
  auto params = train(*dist, 2, std::atoi(std::getenv("MQA_DIST_CRASH_RANK")));
  if (dist->is_main()) torch::save(params, std::string(out) + "/params.pt");
}

TEST(Distributed, TwoRanksOfBatchBEqualOneRankOfBatch2B) {
  if (!mqa::Distributed::has_gloo()) GTEST_SKIP() << "this build has no Gloo (LibTorch without gloo headers): no CPU ranks";
  mqa::test::TempDir dir;
  auto ranks = launch_two_ranks(dir, -1);
  ASSERT_EQ(ranks[0].rc, 0) << ranks[0].log;
  ASSERT_EQ(ranks[1].rc, 0) << ranks[1].log;
  std::vector<torch::Tensor> two;
  torch::load(two, dir.path("params.pt"));
  auto single = mqa::Distributed::single();
  auto one = train(*single, 2, -1);
  ASSERT_EQ(one.size(), two.size());
  // Summation order differs (two partial sums then an all-reduce): equal to float32 rounding.
  for (size_t i = 0; i < one.size(); ++i) EXPECT_LT((one[i] - two[i]).abs().max().item<double>(), 1e-5) << i;
}

TEST(Distributed, RankCrashEndsTheJobWithAClearError) {
  if (!mqa::Distributed::has_gloo()) GTEST_SKIP() << "this build has no Gloo (LibTorch without gloo headers): no CPU ranks";
  mqa::test::TempDir dir;
  auto ranks = launch_two_ranks(dir, 1);
  EXPECT_EQ(ranks[1].rc, 3);
  EXPECT_NE(ranks[0].rc, 0) << ranks[0].log;
  EXPECT_NE(ranks[0].rc, 124) << "rank 0 hung until timeout(1) killed it";
  EXPECT_NE(ranks[0].log.find("another rank probably crashed"), std::string::npos) << ranks[0].log;
}

TEST(Distributed, WithoutTorchrunVariablesItIsASingleProcess) {
  unsetenv("WORLD_SIZE");
  auto d = mqa::Distributed::from_environment(torch::kCPU);
  EXPECT_FALSE(d->enabled());
  EXPECT_EQ(d->rank(), 0);
}
