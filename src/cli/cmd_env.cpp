// `mqa env`: what this build and machine offer (LibTorch, CUDA devices, memory, precisions, distributed backends).
#include <iostream>

#include "cli/command.h"
#include "mqa/train/distributed.h"
#include "mqa/util/device.h"

static void setup_env(CLI::App& app) {
  auto* cmd = app.add_subcommand("env", "print LibTorch version, CUDA devices, memory and precisions");
  cmd->callback([] {
    std::cout << mqa::describe_environment();
    std::cout << "distributed (torchrun): Gloo for CPU ranks " << (mqa::Distributed::has_gloo() ? "yes" : "no")
              << ", NCCL for CUDA ranks " << (mqa::Distributed::has_nccl() ? "yes" : "no") << "\n";
  });
}
MQA_COMMAND(env, setup_env);
