// `mqa train` as a user runs it, from a working directory with a config whose data.dir is relative (issue 18):
//   - a checkpoint is self-contained: copied alone to another directory, `mqa translate` and `mqa eval` work from
//     a third one (the vocabulary is embedded; data.dir is stored absolute), and translate needs no data at all;
//   - a checkpoint without an embedded vocabulary (written before) still loads through data.dir/spm.model, and
//     says what is missing, and how to pass it, when that is not there;
//   - re-running the same command continues the run and says so; another config is an error naming the keys and
//     the ways on; --overwrite starts anew; --device / --precision set train.device / train.precision.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "mqa/config/config.h"
#include "mqa/data/dataset.h"
#include "mqa/data/synth.h"
#include "mqa/train/checkpoint.h"
#include "test_util.h"
#include "tiny_train_config.h"

namespace fs = std::filesystem;

namespace {

using mqa::test::mqa_executable;
using mqa::test::run_command;

class TrainCli : public ::testing::Test {
 protected:
  // work/data/tiny: a prepared corpus (400 synthetic pairs, 120 pieces); work/tiny.yaml: the tiny training config
  // with data.dir: data/tiny, relative to work/.
  void SetUp() override {
    mqa::SynthOptions synth;
    synth.train_sentences = 400;
    synth.eval_sentences = 8;
    mqa::generate_synth_corpus(synth, root_.path("raw"));
    mqa::Config c = mqa::test::tiny_config({"data.dir=" + root_.path("work/data/tiny"), "data.vocab_size=120",
                                            "model.max_positions=128", "data.max_len=127", "train.max_steps=6",
                                            "train.save_every=3", "train.valid_every=3", "train.log_every=3",
                                            "decode.beam_size=2"})
                        .config;
    mqa::synth_raw_keys("translation", root_.path("raw"), c.data);
    mqa::ensure_data_ready(c);
    c.data.dir = "data/tiny";
    root_.write("work/tiny.yaml", mqa::config_to_yaml(c));
    fs::create_directories(root_.path("elsewhere"));
    fs::create_directories(root_.path("third"));
  }

  // `cd DIR && mqa ARGS`
  mqa::test::CommandResult mqa_in(const std::string& dir, const std::string& args) {
    return run_command("cd '" + root_.path(dir) + "' && " + mqa_executable() + " " + args);
  }

  mqa::test::TempDir root_;
};

int64_t lines_of(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

}  // namespace

TEST_F(TrainCli, CheckpointCopiedAloneTranslatesAndEvaluatesFromAnyDirectory) {
  auto r = mqa_in("work", "train tiny.yaml --run-dir runs/tiny");
  ASSERT_EQ(r.status, 0) << r.out;
  fs::copy_file(root_.path("work/runs/tiny/checkpoint_last.pt"), root_.path("elsewhere/model.pt"));
  root_.write("third/source.txt", "a few words\nand a second line\n");

  // Translation needs nothing but the checkpoint: not even the prepared data.
  fs::rename(root_.path("work/data/tiny"), root_.path("work/data/moved"));
  r = mqa_in("third", "translate ../elsewhere/model.pt -i source.txt -q");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(lines_of(r.out), 2) << r.out;
  // Evaluation reads the test split from data.dir, stored absolute: missing it is an error naming it ...
  r = mqa_in("third", "eval ../elsewhere/model.pt --split test -q --bleu-sentences 2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find(root_.path("work/data/tiny")), std::string::npos) << r.out;
  // ... and it works from any directory once the data is back where it was.
  fs::rename(root_.path("work/data/moved"), root_.path("work/data/tiny"));
  r = mqa_in("third", "eval ../elsewhere/model.pt --split test -q --bleu-sentences 2 --json eval.json");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"ln_ppl\": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"beam\": 2,"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(root_.path("third/eval.json")));

  // The embedded vocabulary is the one the data was prepared with, byte for byte.
  mqa::CheckpointFile file(root_.path("elsewhere/model.pt"));
  EXPECT_EQ(file.vocab_model(), mqa::test::file_bytes(root_.path("work/data/tiny/spm.model")));
  // `mqa average` carries it over.
  r = mqa_in("work", "average runs/tiny/checkpoint_3.pt runs/tiny/checkpoint_6.pt -o ../elsewhere/average.pt");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(mqa::CheckpointFile(root_.path("elsewhere/average.pt")).vocab_model(), file.vocab_model());
}

TEST_F(TrainCli, CheckpointWithoutEmbeddedVocabularyUsesDataDirOrSaysHowToPassOne) {
  auto r = mqa_in("work", "train tiny.yaml --run-dir runs/tiny");
  ASSERT_EQ(r.status, 0) << r.out;
  // A checkpoint as written before vocabularies were embedded: no vocab_model, data.dir as the config gave it.
  mqa::CheckpointFile file(root_.path("work/runs/tiny/checkpoint_last.pt"));
  mqa::save_model_tensors(root_.path("work/old.pt"), mqa::test::file_bytes(root_.path("work/tiny.yaml")),
                          file.model_tensors(), file.vocab_size(), file.pad_id(), file.step(), "average");
  ASSERT_TRUE(mqa::CheckpointFile(root_.path("work/old.pt")).vocab_model().empty());
  root_.write("third/source.txt", "a few words\n");

  // From the directory it was trained in, data/tiny/spm.model is found as before.
  r = mqa_in("work", "translate old.pt -i ../third/source.txt -q");
  EXPECT_EQ(r.status, 0) << r.out;
  // From elsewhere it is not there: the error names the checkpoint, the file looked for, and --vocab.
  r = mqa_in("third", "translate ../work/old.pt -i source.txt -q");
  EXPECT_NE(r.status, 0);
  for (const std::string part : {"old.pt", "embeds no vocabulary", "third/data/tiny/spm.model", "--vocab FILE"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " not in\n" << r.out;
  r = mqa_in("third", "translate ../work/old.pt -i source.txt -q --vocab ../work/data/tiny/spm.model");
  EXPECT_EQ(r.status, 0) << r.out;
}

TEST_F(TrainCli, RerunningTheSameCommandContinuesTheRunAndSaysSo) {
  // --precision wins over --set (flags are applied last) and lands in the config as train.precision.
  auto r = mqa_in("work", "train tiny.yaml --set train.precision=bf16 --precision fp32 --device cpu");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string config = mqa::test::file_bytes(root_.path("work/runs/tiny/config.yaml"));
  EXPECT_NE(config.find("precision: \"fp32\""), std::string::npos) << config;
  // Data paths are stored absolute.
  EXPECT_NE(config.find(root_.path("work/data/tiny")), std::string::npos) << config;

  r = mqa_in("work", "train tiny.yaml --set train.precision=bf16 --precision fp32 --device cpu");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("holds a run of this same config: continuing it"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("resumed from"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("done: 6 steps"), std::string::npos) << r.out;
  // A longer run of the same model is another config: continue it with --resume.
  r = mqa_in("work", "train tiny.yaml --precision fp32 --set train.max_steps=9 --resume");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("done: 9 steps"), std::string::npos) << r.out;
}

TEST_F(TrainCli, RerunningWithAnotherConfigIsAnErrorThatSaysWhatToDo) {
  auto r = mqa_in("work", "train tiny.yaml");
  ASSERT_EQ(r.status, 0) << r.out;
  r = mqa_in("work", "train tiny.yaml --set train.lr=0.001");
  EXPECT_EQ(r.status, 2) << r.out;  // a config error
  for (const std::string part : {"runs/tiny holds a run of another config", "train.lr: 0.003 vs 0.001", "--resume",
                                 "--overwrite", "--run-dir"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " not in\n" << r.out;
  // The run is left as it was.
  EXPECT_TRUE(fs::exists(root_.path("work/runs/tiny/checkpoint_6.pt")));
}

TEST_F(TrainCli, OverwriteDeletesTheRunAndStartsAnew) {
  auto r = mqa_in("work", "train tiny.yaml");
  ASSERT_EQ(r.status, 0) << r.out;
  root_.write("work/runs/tiny/notes.txt", "kept\n");
  r = mqa_in("work", "train tiny.yaml --set train.max_steps=3 --overwrite");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("--overwrite: starting a new run"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("resumed from"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(root_.path("work/runs/tiny/checkpoint_6.pt")));
  EXPECT_TRUE(fs::exists(root_.path("work/runs/tiny/checkpoint_3.pt")));
  EXPECT_TRUE(fs::exists(root_.path("work/runs/tiny/notes.txt")));
  // metrics.jsonl holds only the new run: steps 3 (train and valid), nothing of the old run's step 6.
  const std::string metrics = mqa::test::file_bytes(root_.path("work/runs/tiny/metrics.jsonl"));
  EXPECT_EQ(metrics.find("\"step\":6"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\"step\":3"), std::string::npos) << metrics;
  // --resume and --overwrite together make no sense.
  r = mqa_in("work", "train tiny.yaml --resume --overwrite");
  EXPECT_NE(r.status, 0) << r.out;
}
