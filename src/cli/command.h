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

// ---- the command-line convention (README "Command line"; one table of every command's options) ----------------
//   -i/--input FILE    the main input when it is not a positional argument (default stdin)
//   -o/--output FILE   the main output (default stdout); a directory where the output is one (synth)
//   --json FILE        machine-readable results (JSON), besides what is printed
//   --format F         what the printed output looks like (spm: ids|pieces, bleu: text|json)
//   --device D, --precision P   on every command that computes: auto|cpu|cuda and auto|fp32|bf16; on config-driven
//                      commands they set the section's device / precision keys (after --set)
//   --beam N           beam size wherever a command decodes with beam search
//   --set section.key=value   config overrides (repeatable), wherever a config or a checkpoint's config is read
// Old spellings are refused with a hint naming the new one (refuse_renamed_option).

// The options every config-driven command shares: the CONFIG positional and repeated `--set section.key=value`.
struct ConfigArgs {
  std::string path;
  std::vector<std::string> overrides;
};
void add_config_args(CLI::App* cmd, ConfigArgs& args, bool required = true);

// --device and --precision. For a config-driven command (config_section "train", "bench") an option left out keeps
// the config's value, and append_overrides() adds the given ones to --set's as `section.device=...` (so they win);
// commands that load a checkpoint (config_section "") default the device to auto and the precision to the
// checkpoint's own train.precision (as its validation ran).
struct ComputeArgs {
  std::string device, precision;
  std::vector<std::string> append_overrides(std::vector<std::string> overrides, const std::string& section) const;
};
void add_compute_args(CLI::App* cmd, ComputeArgs& args, const std::string& config_section = "");

// Accepts `old_name` (with or without a value) only to refuse it, naming its replacement: a renamed option reads
// "--out was renamed: use --json FILE" instead of "unknown option". Hidden from --help.
void refuse_renamed_option(CLI::App* cmd, const std::string& old_name, const std::string& replacement);

}  // namespace mqa::cli

#define MQA_COMMAND(name, setup) static ::mqa::cli::CommandRegistrar mqa_command_registrar_##name(#name, setup)
