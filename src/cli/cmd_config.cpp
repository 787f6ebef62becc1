// `mqa config show FILE` and `mqa config keys`.
#include <iostream>

#include "cli/command.h"
#include "mqa/config/config.h"

static void setup_config(CLI::App& app) {
  auto* cmd = app.add_subcommand("config", "inspect configurations");
  cmd->require_subcommand(1);

  static mqa::cli::ConfigArgs args;
  auto* show = cmd->add_subcommand("show", "print the fully resolved config (bases and --set applied)");
  mqa::cli::add_config_args(show, args);
  show->callback([] {
    auto loaded = mqa::load_config(args.path, args.overrides);
    std::cout << "# resolved from " << args.path;
    for (size_t i = 1; i < loaded.files.size(); ++i) std::cout << " <- " << loaded.files[i];
    std::cout << "\n" << mqa::config_to_yaml(loaded.config, loaded.origins);
  });

  auto* keys = cmd->add_subcommand("keys", "list every key with type, default, allowed values and help");
  keys->callback([] { std::cout << mqa::describe_config_keys(); });
}
MQA_COMMAND(config, setup_config);
