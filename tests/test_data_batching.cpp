// BatchIterator: every example once per epoch, the token budget, determinism, resuming mid-epoch, sharding by rank,
// the token layout of seq2seq and lm batches, and prefetching giving the same batches.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>

#include "mqa/data/batching.h"

namespace {

// An in-memory dataset: example i has source length 1 + (i * 7) % 40 and target length 1 + (i * 13) % 50, with
// ids that encode (example, position) so that a batch row can be checked against its example.
class FakeDataset : public mqa::Dataset {
 public:
  explicit FakeDataset(int64_t n, bool lm = false) : n_(n), lm_(lm) {}
  bool is_lm() const override { return lm_; }
  int64_t size() const override { return n_; }
  std::vector<int32_t> source(int64_t i) const override { return ids(i, source_length(i), 0); }
  std::vector<int32_t> target(int64_t i) const override { return ids(i, target_length(i), 1); }
  int64_t source_length(int64_t i) const override { return lm_ ? 0 : 1 + (i * 7) % 40; }
  int64_t target_length(int64_t i) const override { return lm_ ? 2 + (i == n_ - 1 ? 3 : 16) : 1 + (i * 13) % 50; }
  static int32_t id(int64_t i, int64_t pos, int side) { return static_cast<int32_t>(4 + i * 1000 + pos * 2 + side); }

 private:
  std::vector<int32_t> ids(int64_t i, int64_t n, int side) const {
    std::vector<int32_t> v;
    for (int64_t p = 0; p < n; ++p) v.push_back(id(i, p, side));
    return v;
  }
  int64_t n_;
  bool lm_;
};

std::vector<mqa::Batch> one_epoch(mqa::BatchIterator& it) {
  std::vector<mqa::Batch> out;
  while (auto b = it.next()) out.push_back(std::move(*b));
  return out;
}

std::vector<std::vector<int64_t>> ids_of(const std::vector<mqa::Batch>& batches) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& b : batches) out.push_back(b.example_ids);
  return out;
}

mqa::BatchOptions options(int64_t budget, bool shuffle = true, uint64_t seed = 7) {
  mqa::BatchOptions o;
  o.batch_tokens = budget;
  o.shuffle = shuffle;
  o.seed = seed;
  return o;
}

}  // namespace

TEST(DataBatching, EveryExampleExactlyOncePerEpoch) {
  auto data = std::make_shared<FakeDataset>(1000);
  for (bool shuffle : {true, false}) {
    mqa::BatchIterator it(data, options(300, shuffle));
    for (int epoch = 0; epoch < 2; ++epoch) {
      std::vector<int> seen(1000, 0);
      for (const auto& b : one_epoch(it))
        for (int64_t i : b.example_ids) ++seen[i];
      EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; })) << "shuffle " << shuffle;
    }
  }
}

TEST(DataBatching, NoBatchExceedsItsTokenBudget) {
  auto data = std::make_shared<FakeDataset>(2000);
  for (int64_t budget : {64, 256, 1000}) {
    mqa::BatchIterator it(data, options(budget));
    for (const auto& b : one_epoch(it)) {
      const int64_t rows = b.src.size(0);
      EXPECT_LE(rows * b.src.size(1), budget);
      EXPECT_LE(rows * b.tgt_in.size(1), budget);
      // The padded width is the longest row: some row fills it.
      int64_t longest = 0;
      for (int64_t i : b.example_ids) longest = std::max(longest, data->target_length(i) + 1);
      EXPECT_EQ(b.tgt_in.size(1), longest);
    }
  }
}

TEST(DataBatching, AnOverLongExampleGetsABatchOfItsOwn) {
  auto data = std::make_shared<FakeDataset>(200);
  mqa::BatchIterator it(data, options(40));  // targets reach 50 + 1 tokens
  int over = 0;
  for (const auto& b : one_epoch(it)) {
    const int64_t cells = b.src.size(0) * std::max(b.src.size(1), b.tgt_in.size(1));
    if (cells > 40) {
      ++over;
      EXPECT_EQ(b.example_ids.size(), 1u);
    }
  }
  EXPECT_GT(over, 0);
}

TEST(DataBatching, SameSeedSameBatchesOtherSeedOrEpochOthers) {
  auto data = std::make_shared<FakeDataset>(1500);
  mqa::BatchIterator a(data, options(300, true, 7)), b(data, options(300, true, 7)), c(data, options(300, true, 8));
  auto a0 = ids_of(one_epoch(a)), b0 = ids_of(one_epoch(b)), c0 = ids_of(one_epoch(c));
  EXPECT_EQ(a0, b0);
  EXPECT_NE(a0, c0);
  EXPECT_EQ(a.epoch(), 1);
  EXPECT_NE(ids_of(one_epoch(a)), a0);  // a new shuffle in the next epoch
}

TEST(DataBatching, ResumingMidEpochContinuesWithTheSameBatches) {
  auto data = std::make_shared<FakeDataset>(1200);
  mqa::BatchIterator full(data, options(256));
  auto epoch0 = ids_of(one_epoch(full));
  auto epoch1 = ids_of(one_epoch(full));

  mqa::BatchIterator first(data, options(256));
  for (int i = 0; i < 5; ++i) first.next();
  const std::string state = first.state();

  mqa::BatchIterator resumed(data, options(256));
  resumed.restore(state);
  std::vector<std::vector<int64_t>> rest;
  while (auto b = resumed.next()) rest.push_back(b->example_ids);
  EXPECT_EQ(rest, std::vector<std::vector<int64_t>>(epoch0.begin() + 5, epoch0.end()));
  EXPECT_EQ(ids_of(one_epoch(resumed)), epoch1);

  // A state from another cut is refused, naming what differs.
  mqa::BatchIterator other(data, options(512));
  try {
    other.restore(state);
    FAIL() << "restore accepted a state saved with another batch_tokens";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("batch_tokens was 256 when saved but is 512 now"), std::string::npos)
        << e.what();
  }
}

TEST(DataBatching, RanksPartitionTheBatchesEquallyAndDisjointly) {
  auto data = std::make_shared<FakeDataset>(1000);
  mqa::BatchIterator single(data, options(200));
  auto all = ids_of(one_epoch(single));
  const int world = 3;
  std::vector<std::vector<std::vector<int64_t>>> per_rank;
  for (int r = 0; r < world; ++r) {
    auto o = options(200);
    o.rank = r;
    o.world_size = world;
    mqa::BatchIterator it(data, o);
    const int64_t announced = it.batches_per_epoch();
    per_rank.push_back(ids_of(one_epoch(it)));
    EXPECT_EQ(static_cast<int64_t>(per_rank.back().size()), announced);
  }
  const size_t n = all.size() / world;
  std::multiset<int64_t> seen;
  for (int r = 0; r < world; ++r) {
    ASSERT_EQ(per_rank[r].size(), n) << "rank " << r;
    for (size_t j = 0; j < n; ++j) {
      EXPECT_EQ(per_rank[r][j], all[r + j * world]);  // rank r takes batches r, r + W, ...
      seen.insert(per_rank[r][j].begin(), per_rank[r][j].end());
    }
  }
  for (int64_t id : seen) EXPECT_EQ(seen.count(id), 1u);
}

TEST(DataBatching, EvaluationShardsWrapSoNoExampleIsLost) {
  auto data = std::make_shared<FakeDataset>(500);
  std::set<int64_t> seen;
  size_t batches = 0;
  for (int r = 0; r < 4; ++r) {
    auto o = options(300, false);
    o.rank = r;
    o.world_size = 4;
    mqa::BatchIterator it(data, o);
    auto b = one_epoch(it);
    if (r == 0) batches = b.size();
    EXPECT_EQ(b.size(), batches);
    for (const auto& x : b) seen.insert(x.example_ids.begin(), x.example_ids.end());
  }
  EXPECT_EQ(seen.size(), 500u);
}

TEST(DataBatching, Seq2SeqRowsAreBosTargetAndTargetEosWithPadding) {
  auto data = std::make_shared<FakeDataset>(300);
  mqa::BatchIterator it(data, options(400));
  auto batch = *it.next();
  ASSERT_EQ(batch.src.dtype(), torch::kInt64);
  ASSERT_EQ(batch.tgt_in.sizes(), batch.tgt_out.sizes());
  int64_t src_tokens = 0, tgt_tokens = 0;
  for (size_t r = 0; r < batch.example_ids.size(); ++r) {
    const int64_t i = batch.example_ids[r], m = data->target_length(i), s = data->source_length(i);
    auto in = batch.tgt_in[r], out = batch.tgt_out[r], src = batch.src[r];
    EXPECT_EQ(in[0].item<int64_t>(), data->bos_id);
    for (int64_t p = 0; p < m; ++p) {
      EXPECT_EQ(in[p + 1].item<int64_t>(), FakeDataset::id(i, p, 1));
      EXPECT_EQ(out[p].item<int64_t>(), FakeDataset::id(i, p, 1));
    }
    EXPECT_EQ(out[m].item<int64_t>(), data->eos_id);
    for (int64_t p = m + 1; p < in.size(0); ++p) EXPECT_EQ(in[p].item<int64_t>(), data->pad_id);
    for (int64_t p = 0; p < s; ++p) EXPECT_EQ(src[p].item<int64_t>(), FakeDataset::id(i, p, 0));
    for (int64_t p = s; p < src.size(0); ++p) EXPECT_EQ(src[p].item<int64_t>(), data->pad_id);
    src_tokens += s;
    tgt_tokens += m + 1;
  }
  EXPECT_EQ(batch.src_tokens, src_tokens);
  EXPECT_EQ(batch.tgt_tokens, tgt_tokens);
}

TEST(DataBatching, LmRowsAreTheSequenceShiftedByOne) {
  auto data = std::make_shared<FakeDataset>(50, true);
  mqa::BatchIterator it(data, options(200, false));
  int64_t rows = 0;
  while (auto b = it.next()) {
    EXPECT_FALSE(b->src.defined());
    for (size_t r = 0; r < b->example_ids.size(); ++r, ++rows) {
      const int64_t i = b->example_ids[r], n = data->target_length(i);
      for (int64_t p = 0; p + 1 < n; ++p) {
        EXPECT_EQ(b->tgt_in[r][p].item<int64_t>(), FakeDataset::id(i, p, 1));
        EXPECT_EQ(b->tgt_out[r][p].item<int64_t>(), FakeDataset::id(i, p + 1, 1));
      }
      for (int64_t p = n - 1; p < b->tgt_in.size(1); ++p) EXPECT_EQ(b->tgt_out[r][p].item<int64_t>(), data->pad_id);
    }
  }
  EXPECT_EQ(rows, 50);
}

TEST(DataBatching, PrefetchingYieldsTheSameBatches) {
  auto data = std::make_shared<FakeDataset>(800);
  mqa::BatchIterator plain(data, options(256));
  auto o = options(256);
  o.num_workers = 1;
  o.prefetch = 3;
  mqa::BatchIterator ahead(data, o);
  for (int epoch = 0; epoch < 2; ++epoch) {
    auto x = one_epoch(plain), y = one_epoch(ahead);
    ASSERT_EQ(ids_of(x), ids_of(y));
    for (size_t k = 0; k < x.size(); ++k) EXPECT_TRUE(torch::equal(x[k].tgt_out, y[k].tgt_out));
  }
  // Restoring a prefetching iterator discards what was built ahead.
  for (int i = 0; i < 3; ++i) ahead.next();
  auto state = ahead.state();
  auto expected = ids_of(one_epoch(ahead));
  ahead.restore(state);
  EXPECT_EQ(ids_of(one_epoch(ahead)), expected);
}
