// The config system: resolution, inheritance, overrides, and one test per kind of error, each asserting that the
// message names what a user needs to fix it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mqa/config/config.h"
#include "test_util.h"

namespace fs = std::filesystem;
using mqa::ConfigError;
using mqa::load_config;

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST(Config, DefaultsAreThePaperBaseline) {
  auto c = mqa::default_config().config;
  EXPECT_EQ(c.model.d_model, 1024);
  EXPECT_EQ(c.model.heads, 8);
  EXPECT_EQ(c.model.d_k, 128);
}

TEST(Config, BaseInheritanceAndOverrides) {
  mqa::test::TempDir dir;
  dir.write("sub/base.yaml", "model:\n  heads: 4\n  kv_heads: 4\n  d_ff: 100\n");
  dir.write("child.yaml", "base: sub/base.yaml\nmodel:\n  kv_heads: 1\n");
  auto loaded = load_config(dir.path("child.yaml"), {"model.d_ff=200", "data.dir=somewhere"});
  EXPECT_EQ(loaded.config.model.heads, 4);
  EXPECT_EQ(loaded.config.model.kv_heads, 1);
  EXPECT_EQ(loaded.config.model.d_ff, 200);
  EXPECT_EQ(loaded.config.data.dir, "somewhere");
  ASSERT_EQ(loaded.files.size(), 2u);
}

TEST(Config, PrintedConfigLoadsBackToTheSameValues) {
  mqa::test::TempDir dir;
  auto a = mqa::default_config({"model.heads=2", "model.kv_heads=1", "train.lr=0.5", "data.synth=lm"});
  dir.write("round.yaml", mqa::config_to_yaml(a.config, a.origins));
  auto b = load_config(dir.path("round.yaml"));
  EXPECT_EQ(mqa::config_to_yaml(a.config), mqa::config_to_yaml(b.config));
}

TEST(ConfigErrors, UnknownKeyNamesFileLineAndSuggestion) {
  mqa::test::TempDir dir;
  dir.write("typo.yaml", "model:\n  heads: 8\n  hedas: 4\n");
  std::string msg = error_of([&] { load_config(dir.path("typo.yaml")); });
  EXPECT_NE(msg.find("typo.yaml:3:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.hedas"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'model.heads'"), std::string::npos) << msg;
}

TEST(ConfigErrors, UnknownSectionSuggestsTheKeyItLooksLike) {
  mqa::test::TempDir dir;
  dir.write("flat.yaml", "heads: 8\n");
  std::string msg = error_of([&] { load_config(dir.path("flat.yaml")); });
  EXPECT_NE(msg.find("flat.yaml:1:1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown section"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.heads"), std::string::npos) << msg;
}

TEST(ConfigErrors, WrongTypeSaysWhatWasExpectedAndFound) {
  mqa::test::TempDir dir;
  dir.write("type.yaml", "train:\n  lr: fast\nmodel:\n  heads: 4.5\n");
  std::string msg = error_of([&] { load_config(dir.path("type.yaml")); });
  EXPECT_NE(msg.find("type.yaml:2:3: train.lr: expected a number, found 'fast'"), std::string::npos) << msg;
  msg = error_of([&] { mqa::default_config({"model.heads=4.5"}); });
  EXPECT_NE(msg.find("model.heads: expected an integer, found '4.5'"), std::string::npos) << msg;
  msg = error_of([&] { mqa::default_config({"model.tie_output=maybe"}); });
  EXPECT_NE(msg.find("expected true or false"), std::string::npos) << msg;
  msg = error_of([&] { mqa::default_config({"model.heads=[1, 2]"}); });
  EXPECT_NE(msg.find("expected an integer, found a list"), std::string::npos) << msg;
}

TEST(ConfigErrors, OutOfRangeAndNotAChoice) {
  std::string msg = error_of([&] { mqa::default_config({"model.dropout=1.5"}); });
  EXPECT_NE(msg.find("--set model.dropout=1.5: model.dropout: 1.5 is out of range; expected a value in [0, 0.95]"),
            std::string::npos) << msg;
  msg = error_of([&] { mqa::default_config({"model.type=seq2sq"}); });
  EXPECT_NE(msg.find("expected one of: seq2seq, lm; did you mean 'seq2seq'?"), std::string::npos) << msg;
}

TEST(ConfigErrors, RelationsBetweenKeys) {
  mqa::test::TempDir dir;
  dir.write("gqa.yaml", "model:\n  heads: 8\n  kv_heads: 3\n");
  std::string msg = error_of([&] { load_config(dir.path("gqa.yaml")); });
  EXPECT_NE(msg.find("gqa.yaml:3:3: model.kv_heads: 3 does not divide model.heads (8)"), std::string::npos) << msg;
}

// The cosine schedule decays from the end of the warmup to train.max_steps: a run shorter than its warmup has no
// decay to run, refused when the config is read, not at the trainer's first step.
TEST(ConfigErrors, CosineScheduleNeedsMoreStepsThanWarmup) {
  mqa::test::TempDir dir;
  dir.write("short.yaml", "train:\n  schedule: cosine\n  warmup_steps: 500\n  max_steps: 400\n");
  std::string msg = error_of([&] { load_config(dir.path("short.yaml")); });
  EXPECT_NE(msg.find("short.yaml:4:3: train.max_steps: 400 leaves no steps for the cosine decay"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("train.warmup_steps (500, " + dir.path("short.yaml") + ":3:3)"), std::string::npos) << msg;
  EXPECT_NO_THROW(load_config(dir.path("short.yaml"), {"train.max_steps=501"}));
  EXPECT_NO_THROW(load_config(dir.path("short.yaml"), {"train.schedule=inverse_sqrt"}));
}

// Issue 15: prepare kept 256-token targets, the batcher adds bos (257 positions) and a model of 256 positions
// aborted in its embedding at the first such batch. The config is refused instead, naming both keys' places.
TEST(ConfigErrors, Seq2SeqMaxLenMustLeaveRoomForBos) {
  mqa::test::TempDir dir;
  dir.write("long.yaml", "model:\n  type: seq2seq\n  max_positions: 256\ndata:\n  max_len: 256\n");
  std::string msg = error_of([&] { load_config(dir.path("long.yaml")); });
  EXPECT_NE(msg.find("long.yaml:5:3: data.max_len: 256 leaves no room for bos"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.max_positions (256, " + dir.path("long.yaml") + ":3:3)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected data.max_len <= 255"), std::string::npos) << msg;
  EXPECT_NO_THROW(load_config(dir.path("long.yaml"), {"data.max_len=255"}));
  // A language model packs its stream into data.seq_len tokens: data.max_len only drops long training lines.
  EXPECT_NO_THROW(load_config(dir.path("long.yaml"), {"model.type=lm", "data.seq_len=256"}));
}

TEST(ConfigErrors, MissingFile) {
  std::string msg = error_of([&] { load_config("/nonexistent/x.yaml"); });
  EXPECT_NE(msg.find("/nonexistent/x.yaml: config file not found"), std::string::npos) << msg;
  mqa::test::TempDir dir;
  dir.write("child.yaml", "base: nothere.yaml\n");
  msg = error_of([&] { load_config(dir.path("child.yaml")); });
  EXPECT_NE(msg.find("child.yaml:1:7: base: config file not found"), std::string::npos) << msg;
}

TEST(ConfigErrors, MalformedYamlHasLineAndColumn) {
  mqa::test::TempDir dir;
  dir.write("bad.yaml", "model:\n  heads: [1, 2\n  d_k: 4\n");
  std::string msg = error_of([&] { load_config(dir.path("bad.yaml")); });
  EXPECT_NE(msg.find("bad.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed YAML"), std::string::npos) << msg;
}

TEST(ConfigErrors, InheritanceCycleNamesTheChain) {
  mqa::test::TempDir dir;
  dir.write("a.yaml", "base: b.yaml\n");
  dir.write("b.yaml", "base: a.yaml\n");
  std::string msg = error_of([&] { load_config(dir.path("a.yaml")); });
  EXPECT_NE(msg.find("inheritance cycle"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a.yaml -> "), std::string::npos) << msg;
  EXPECT_NE(msg.find("b.yaml -> "), std::string::npos) << msg;
}

TEST(ConfigErrors, MalformedOverride) {
  std::string msg = error_of([&] { mqa::default_config({"model.heads"}); });
  EXPECT_NE(msg.find("expected section.key=value"), std::string::npos) << msg;
}

// ... and states its learning rate (itself or through its base): train.lr has no default (training refuses a
// config without it), since its scale depends on the optimizer and schedule.
TEST(Config, EveryShippedConfigLoadsAndStatesItsLearningRate) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(mqa::test::source_dir()) / "configs")) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    mqa::LoadedConfig loaded;
    EXPECT_NO_THROW(loaded = load_config(e.path().string()));
    bool states_lr = false;
    for (const auto& o : loaded.origins) states_lr |= o.key == "train.lr";
    EXPECT_TRUE(states_lr);
    EXPECT_GT(loaded.config.train.lr, 0.0);
    ++n;
  }
  EXPECT_GT(n, 0);
}
