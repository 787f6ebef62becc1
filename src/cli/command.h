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

// A parent command shared by several files (e.g. `mqa bench decode` and `mqa bench data`): returns the existing
// subcommand `name` of app, or adds it.
CLI::App* command_group(CLI::App& app, const std::string& name, const std::string& help);

// The options every config-driven command shares: the CONFIG positional and repeated `--set section.key=value`.
struct ConfigArgs {
  std::string path;
  std::vector<std::string> overrides;
};
void add_config_args(CLI::App* cmd, ConfigArgs& args, bool required = true);

}  // namespace mqa::cli

#define MQA_COMMAND(name, setup) static ::mqa::cli::CommandRegistrar mqa_command_registrar_##name(#name, setup)
