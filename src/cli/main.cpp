// The `mqa` program: every subcommand lives in its own cmd_*.cpp and registers itself (command.h).
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "mqa/config/config.h"

namespace mqa::cli {

namespace {
std::map<std::string, CommandSetup>& registry() {
  static std::map<std::string, CommandSetup> commands;
  return commands;
}
}  // namespace

CommandRegistrar::CommandRegistrar(const char* name, CommandSetup setup) { registry()[name] = std::move(setup); }

std::vector<std::pair<std::string, CommandSetup>> registered_commands() {
  return {registry().begin(), registry().end()};
}

CLI::App* command_group(CLI::App& app, const std::string& name, const std::string& help) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_name() == name) return sub;
  CLI::App* group = app.add_subcommand(name, help);
  group->require_subcommand(1);
  return group;
}

void add_config_args(CLI::App* cmd, ConfigArgs& args, bool required) {
  auto* opt = cmd->add_option("config", args.path, "YAML config file (see configs/)");
  if (required) opt->required();
  cmd->add_option("--set", args.overrides, "override a key: section.key=value (repeatable)")->take_all();
}

}  // namespace mqa::cli

int main(int argc, char** argv) {
  CLI::App app{"mqa: multi-query attention research framework (Shazeer 2019, reproduced and extended)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mqa ") + MQA_VERSION);
  for (auto& [name, setup] : mqa::cli::registered_commands()) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const mqa::cli::Exit& e) {
    return e.code;
  } catch (const mqa::ConfigError& e) {
    std::cerr << "mqa: config error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "mqa: error: " << e.what_without_backtrace() << "\n";  // LibTorch's checks: no C++ backtrace
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mqa: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
