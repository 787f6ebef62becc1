// The one command-line convention of every subcommand (src/cli/command.h, README "Command line"): old spellings of
// renamed options are refused with a hint naming the new one (not "unknown option", and never taken as something
// else: `spm encode --output pieces` once meant the format and must not now write a file called "pieces"); every
// command that computes takes --device and --precision; the MQA_* switch variables are checked before any command runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "mqa/util/env_switch.h"
#include "test_util.h"

namespace {

using mqa::test::mqa_executable;
using mqa::test::run_command;

// Runs `mqa ARGS` in `dir`; expects it to fail naming `old_name` and `hint`.
void expect_refused(const mqa::test::TempDir& dir, const std::string& args, const std::string& old_name,
                    const std::string& hint) {
  auto r = run_command("cd '" + dir.path() + "' && " + mqa_executable() + " " + args);
  EXPECT_NE(r.status, 0) << args << "\n" << r.out;
  EXPECT_NE(r.out.find(old_name), std::string::npos) << args << "\n" << r.out;
  EXPECT_NE(r.out.find("use " + hint), std::string::npos) << args << "\n" << r.out;
}

}  // namespace

TEST(CliConvention, OldSpellingsAreRefusedWithAHintNamingTheNewOne) {
  mqa::test::TempDir dir;
  dir.write("ref.txt", "a b c\n");
  expect_refused(dir, "eval missing.pt --out result.json", "--out", "--json FILE");
  expect_refused(dir, "synth --out corpus", "--out", "-o/--output DIR");
  expect_refused(dir, "bleu ref.txt --json < ref.txt", "--json", "--format json");
  // Nothing was written under the old meaning.
  EXPECT_FALSE(std::filesystem::exists(dir.path("result.json")));
  EXPECT_FALSE(std::filesystem::exists(dir.path("corpus")));
}

TEST(CliConvention, SpmFormatIsNoLongerSpelledAsInputOrOutput) {
  mqa::test::TempDir dir;
  dir.write("in.txt", "a b c\n");
  // The check runs before the model is opened, so no vocabulary is needed to see it.
  auto r = run_command("cd '" + dir.path() + "' && " + mqa_executable() +
                       " spm encode --model none.model --output pieces < in.txt");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("--format pieces"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir.path("pieces")));
  r = run_command("cd '" + dir.path() + "' && " + mqa_executable() + " spm decode --model none.model --input ids");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("--format ids"), std::string::npos) << r.out;
}

TEST(CliConvention, EveryCommandThatComputesTakesDeviceAndPrecision) {
  for (const std::string command : {"train", "eval", "translate", "generate", "bench decode", "bench train"}) {
    auto r = run_command(mqa_executable() + " " + command + " --help");
    EXPECT_EQ(r.status, 0) << command << "\n" << r.out;
    for (const std::string option : {"--device", "--precision", "--set"})
      EXPECT_NE(r.out.find(option), std::string::npos) << command << " lacks " << option << "\n" << r.out;
  }
  for (const std::string command : {"eval", "translate", "bench decode"}) {
    auto r = run_command(mqa_executable() + " " + command + " --help");
    EXPECT_NE(r.out.find("--beam"), std::string::npos) << command << " lacks --beam\n" << r.out;
  }
  // Values are checked on every command alike.
  auto r = run_command(mqa_executable() + " eval missing.pt --precision fp16");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("fp16"), std::string::npos) << r.out;
}

// MQA_SDPA_CUDNN and MQA_FUSED_PROJECTIONS (src/mqa/model/attention.h), MQA_LOSS_KERNELS (train/loss.h),
// MQA_LAYER_NORM_KERNELS (util/layer_norm_bf16.h), MQA_RELU_EPILOGUE (util/linear_relu.h), MQA_DECODE_SPLIT_MERGE,
// MQA_DECODE_TENSOR_CORES, MQA_DECODE_NORM_BLOCK and MQA_DECODE_BEAM_UPDATE (decode/decode_ops.h) take 0 or 1;
// anything else stops every command with the variable named rather than being read as one of them -- also in a build
// where all but the first change nothing (no kernels, no GPU).
TEST(CliConvention, SwitchVariablesTakeZeroOrOneOnly) {
  for (const std::string name : {"MQA_SDPA_CUDNN", "MQA_LOSS_KERNELS", "MQA_LAYER_NORM_KERNELS", "MQA_RELU_EPILOGUE",
                                 "MQA_FUSED_PROJECTIONS", "MQA_DECODE_SPLIT_MERGE", "MQA_DECODE_TENSOR_CORES",
                                 "MQA_DECODE_NORM_BLOCK", "MQA_DECODE_BEAM_UPDATE"}) {
    auto r = run_command(name + "=yes " + mqa_executable() + " env");
    EXPECT_NE(r.status, 0) << name << "\n" << r.out;
    EXPECT_NE(r.out.find(name + "=yes: expected 0"), std::string::npos) << r.out;
    for (const char* value : {"0", "1"}) {
      r = run_command(name + "=" + value + " " + mqa_executable() + " env");
      EXPECT_EQ(r.status, 0) << name << "=" << value << "\n" << r.out;
    }
  }
}

// The switches mqa reads from the environment (util/env_switch.h): unset gives the default, 0 and 1 switch, and
// anything else is an error naming the variable and the value.
TEST(EnvSwitch, UnsetGivesTheDefaultZeroAndOneSwitchAnythingElseIsAnError) {
  const char* name = "MQA_TEST_ENV_SWITCH";
  unsetenv(name);
  EXPECT_TRUE(mqa::env_switch(name, true, "a test"));
  EXPECT_FALSE(mqa::env_switch(name, false, "a test"));
  setenv(name, "0", 1);
  EXPECT_FALSE(mqa::env_switch(name, true, "a test"));
  setenv(name, "1", 1);
  EXPECT_TRUE(mqa::env_switch(name, false, "a test"));
  setenv(name, "on", 1);
  try {
    mqa::env_switch(name, true, "a test");
    ADD_FAILURE() << "no error for a value other than 0 or 1";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("MQA_TEST_ENV_SWITCH=on: expected 0 or 1 (a test)"), std::string::npos)
        << e.what();
  }
  unsetenv(name);
}
