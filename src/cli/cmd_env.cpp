// `mqa env`: what this build and machine offer (LibTorch, CUDA devices, memory, precisions).
#include <iostream>

#include "cli/command.h"
#include "mqa/util/device.h"

static void setup_env(CLI::App& app) {
  auto* cmd = app.add_subcommand("env", "print LibTorch version, CUDA devices, memory and precisions");
  cmd->callback([] { std::cout << mqa::describe_environment(); });
}
MQA_COMMAND(env, setup_env);
