// Binary shards and the datasets read from them: what is written is read back, a shard is either complete or
// absent, corruption is reported with the file name, and lm packing predicts every token exactly once.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "mqa/data/dataset.h"
#include "mqa/data/prepare.h"
#include "mqa/data/shard.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

using mqa::test::error_of;

std::vector<std::vector<int32_t>> sample_records() {
  return {{5, 6, 7}, {}, {8}, {9, 10, 11, 12, 13}, {100000}};
}

}  // namespace

TEST(DataShard, RoundTrip) {
  mqa::test::TempDir dir;
  const auto records = sample_records();
  {
    mqa::ShardWriter w(dir.path("s"));
    for (const auto& r : records) w.add(r);
    w.finish();
  }
  mqa::ShardReader r(dir.path("s"));
  ASSERT_EQ(r.records(), static_cast<int64_t>(records.size()));
  EXPECT_EQ(r.tokens(), 10);
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(r.length(i), static_cast<int64_t>(records[i].size()));
    EXPECT_EQ(std::vector<int32_t>(r.data(i), r.data(i) + r.length(i)), records[i]);
  }
  r.release_pages();  // the data stays readable afterwards
  EXPECT_EQ(r.data(3)[4], 13);
}

TEST(DataShard, EmptyShardIsValid) {
  mqa::test::TempDir dir;
  {
    mqa::ShardWriter w(dir.path("e"));
    w.finish();
  }
  mqa::ShardReader r(dir.path("e"));
  EXPECT_EQ(r.records(), 0);
  EXPECT_EQ(r.tokens(), 0);
}

TEST(DataShard, UnfinishedWriterLeavesNoShard) {
  mqa::test::TempDir dir;
  {
    mqa::ShardWriter w(dir.path("u"));
    w.add(std::vector<int32_t>{1, 2, 3});
    EXPECT_TRUE(fs::exists(dir.path("u.bin.tmp")));
  }  // destroyed without finish(), as when prepare is interrupted by an exception
  EXPECT_FALSE(mqa::shard_exists(dir.path("u")));
  EXPECT_FALSE(fs::exists(dir.path("u.bin.tmp")));
  EXPECT_FALSE(fs::exists(dir.path("u.idx.tmp")));
}

TEST(DataShard, TruncatedBinIsReportedWithItsName) {
  mqa::test::TempDir dir;
  {
    mqa::ShardWriter w(dir.path("t"));
    w.add(std::vector<int32_t>{1, 2, 3, 4});
    w.finish();
  }
  fs::resize_file(dir.path("t.bin"), 8);
  std::string msg = error_of([&] { mqa::ShardReader r(dir.path("t")); });
  EXPECT_NE(msg.find("t.idx"), std::string::npos) << msg;
  EXPECT_NE(msg.find("t.bin holds 8 bytes, expected 16"), std::string::npos) << msg;
}

TEST(DataShard, MissingShardNamesTheFile) {
  mqa::test::TempDir dir;
  std::string msg = error_of([&] { mqa::ShardReader r(dir.path("nothing")); });
  EXPECT_NE(msg.find("nothing.idx: shard file not found"), std::string::npos) << msg;
}

namespace {

// A prepared directory written by hand: the marker plus the shards of one kind.
void write_prepared(const mqa::test::TempDir& dir, const std::string& kind,
                    const std::map<std::string, std::vector<std::vector<int32_t>>>& shards) {
  for (const auto& [name, records] : shards) {
    mqa::ShardWriter w(dir.path(name));
    for (const auto& r : records) w.add(r);
    w.finish();
  }
  dir.write("prepare.done", "kind: " + kind + "\n");
}

}  // namespace

TEST(DataDataset, Seq2SeqPairsComeBackAsWritten) {
  mqa::test::TempDir dir;
  write_prepared(dir, "seq2seq", {{"train.src", {{4, 5}, {6}}}, {"train.tgt", {{7}, {8, 9, 10}}}});
  mqa::DataConfig d;
  d.dir = dir.path();
  auto ds = mqa::Dataset::open(d, "seq2seq", "train");
  ASSERT_EQ(ds->size(), 2);
  EXPECT_FALSE(ds->is_lm());
  EXPECT_EQ(ds->source(0), (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(ds->target(1), (std::vector<int32_t>{8, 9, 10}));
  EXPECT_EQ(ds->target_length(1), 3);
  for (const char* mode : {"mmap", "pread"}) {  // both read paths of the batcher give the same ids
    d.read = mode;
    auto x = mqa::Dataset::open(d, "seq2seq", "train");
    std::vector<int64_t> wide(3);
    x->copy_target(1, wide.data());
    EXPECT_EQ(wide, (std::vector<int64_t>{8, 9, 10})) << mode;
    x->copy_source(0, wide.data());
    EXPECT_EQ(wide[0], 4) << mode;
    EXPECT_EQ(wide[1], 5) << mode;
  }
}

TEST(DataDataset, LmPackingPredictsEveryTokenOnce) {
  mqa::test::TempDir dir;
  // Stream: 10 11 eos | 12 13 14 eos | 15 eos  (eos = 3), 9 tokens; read as [eos] + stream = 10 tokens.
  write_prepared(dir, "lm", {{"train.lm", {{10, 11, 3}, {12, 13, 14, 3}, {15, 3}}}});
  mqa::DataConfig d;
  d.dir = dir.path();
  d.seq_len = 4;
  auto ds = mqa::Dataset::open(d, "lm", "train");
  ASSERT_TRUE(ds->is_lm());
  // Examples start at 0, 4, 8 of the 10 virtual tokens: lengths 5, 5, 2.
  ASSERT_EQ(ds->size(), 3);
  EXPECT_EQ(ds->target(0), (std::vector<int32_t>{3, 10, 11, 3, 12}));
  EXPECT_EQ(ds->target(1), (std::vector<int32_t>{12, 13, 14, 3, 15}));
  EXPECT_EQ(ds->target(2), (std::vector<int32_t>{15, 3}));
  // Predicted tokens (all but the first of each example) are the stream, each exactly once.
  std::vector<int32_t> predicted;
  for (int64_t i = 0; i < ds->size(); ++i) {
    auto x = ds->target(i);
    predicted.insert(predicted.end(), x.begin() + 1, x.end());
  }
  EXPECT_EQ(predicted, (std::vector<int32_t>{10, 11, 3, 12, 13, 14, 3, 15, 3}));
  d.read = "pread";
  auto p = mqa::Dataset::open(d, "lm", "train");
  for (int64_t i = 0; i < p->size(); ++i) {
    std::vector<int64_t> wide(p->target_length(i));
    p->copy_target(i, wide.data());
    auto want = ds->target(i);
    EXPECT_EQ(wide, std::vector<int64_t>(want.begin(), want.end())) << "example " << i;
  }
}

TEST(DataDataset, UnpreparedOrMismatchedDirectoryIsAnError) {
  mqa::test::TempDir dir;
  mqa::DataConfig d;
  d.dir = dir.path("absent");
  std::string msg = error_of([&] { mqa::Dataset::open(d, "seq2seq", "train"); });
  EXPECT_NE(msg.find("not prepared"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mqa prepare"), std::string::npos) << msg;

  write_prepared(dir, "lm", {});
  d.dir = dir.path();
  msg = error_of([&] { mqa::data_dir_ready(d, "seq2seq"); });
  EXPECT_NE(msg.find("holds a prepared corpus of 'lm', but model.type is 'seq2seq'"), std::string::npos) << msg;
}
