#include "cli/checkpoint_args.h"

#include "mqa/util/device.h"
#include "mqa/util/strings.h"

namespace mqa::cli {

void add_checkpoint_args(CLI::App* cmd, CheckpointArgs& args, const std::vector<std::string>& sections) {
  cmd->add_option("checkpoint", args.checkpoint, "checkpoint file (.pt)")->required();
  std::vector<std::string> keys;
  for (const auto& s : sections) keys.push_back(s + ".key=value");
  cmd->add_option("--set", args.overrides, "override a key of the checkpoint's config: " + join(keys, " or ") +
                                                " (repeatable)")
      ->take_all();
  add_compute_args(cmd, args.compute);
  cmd->add_option("--vocab", args.vocab, "SentencePiece model to use instead of the one the checkpoint embeds (or "
                                         "its data.dir/spm.model, for checkpoints without one)");
}

OpenedCheckpoint open_checkpoint(const CheckpointArgs& args, const std::vector<std::string>& sections,
                                 const std::vector<std::string>& extra) {
  OpenedCheckpoint c;
  c.device = resolve_device(args.compute.device);
  c.bundle = load_model(args.checkpoint, c.device, args.vocab);
  // As the run validated unless asked otherwise, so that eval's numbers are the ones training logged.
  c.precision = resolve_precision(args.compute.precision.empty() ? c.bundle.config.train.precision
                                                                 : args.compute.precision,
                                  c.device);
  std::vector<std::string> overrides = args.overrides;
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  c.config = with_overrides(c.bundle.config, overrides, sections);
  return c;
}

}  // namespace mqa::cli
