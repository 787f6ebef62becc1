// `mqa average CKPT... -o OUT`: the element-wise mean of the parameters of several checkpoints of one model (the
// paper averages the last checkpoints of a run). The checkpoints must share the model config and vocabulary; the
// output is a model-only checkpoint (kind "average") that load_model reads like any other.
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "mqa/train/checkpoint.h"

static void setup_average(CLI::App& app) {
  auto* cmd = app.add_subcommand("average", "average the parameters of checkpoints of one model");
  static std::vector<std::string> inputs;
  static std::string output;
  cmd->add_option("checkpoints", inputs, "checkpoint files (same model config)")->required();
  cmd->add_option("-o,--output", output, "the averaged checkpoint to write")->required();
  cmd->callback([] {
    mqa::average_checkpoints(inputs, output);
    std::cout << fmt::format("averaged {} checkpoints into {}\n", inputs.size(), output);
  });
}
MQA_COMMAND(average, setup_average);
