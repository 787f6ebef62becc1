// What the commands that run a checkpoint (eval, translate, generate) share: the CHECKPOINT positional, --vocab,
// --device / --precision (command.h's convention) and --set of the keys of some config sections, and opening the
// checkpoint with them.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "cli/command.h"
#include "mqa/config/config.h"
#include "mqa/train/checkpoint.h"

namespace mqa::cli {

struct CheckpointArgs {
  std::string checkpoint, vocab;
  ComputeArgs compute;
  std::vector<std::string> overrides;  // --set
};

// Adds the options; `sections` are the config sections --set may change (e.g. {"decode"}), for its help text.
void add_checkpoint_args(CLI::App* cmd, CheckpointArgs& args, const std::vector<std::string>& sections);

// A checkpoint ready to run: its model on the device, its vocabulary, and its config with --set and then `extra`
// overrides (a command's own flags, e.g. --beam) applied; only keys of `sections` may change.
struct OpenedCheckpoint {
  ModelBundle bundle;
  Config config;
  torch::Device device = torch::kCPU;
  torch::ScalarType precision = torch::kFloat32;  // what --precision resolves to on `device`
};
OpenedCheckpoint open_checkpoint(const CheckpointArgs& args, const std::vector<std::string>& sections,
                                 const std::vector<std::string>& extra = {});

}  // namespace mqa::cli
