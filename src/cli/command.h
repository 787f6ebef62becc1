// Subcommands register themselves: each src/cli/cmd_*.cpp defines a setup function that adds its subcommand to
// the CLI11 app, and names it with MQA_COMMAND. main.cpp runs them all, so adding a command touches one file.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace mqa::cli {

using CommandSetup = std::function<void(CLI::App&)>;

struct CommandRegistrar {
  CommandRegistrar(const char* name, CommandSetup setup);
};

// (name, setup) of every registered command, sorted by name.
std::vector<std::pair<std::string, CommandSetup>> registered_commands();

// Thrown by a command to end the program with this exit status (after printing what it had to say).
struct Exit {
  int code;
};

// The options every config-driven command shares: the CONFIG positional and repeated `--set section.key=value`.
struct ConfigArgs {
  std::string path;
  std::vector<std::string> overrides;
};
void add_config_args(CLI::App* cmd, ConfigArgs& args, bool required = true);

}  // namespace mqa::cli

#define MQA_COMMAND(name, setup) static ::mqa::cli::CommandRegistrar mqa_command_registrar_##name(#name, setup)
