// The `mqa` program: every subcommand lives in its own cmd_*.cpp and registers itself (command.h).
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include <malloc.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "mqa/config/config.h"
#include "mqa/decode/decode_ops.h"
#include "mqa/model/attention.h"
#include "mqa/train/loss.h"
#include "mqa/util/layer_norm_bf16.h"
#include "mqa/util/linear_relu.h"

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

std::vector<std::string> ComputeArgs::append_overrides(std::vector<std::string> overrides,
                                                        const std::string& section) const {
  if (!device.empty()) overrides.push_back(section + ".device=" + device);
  if (!precision.empty()) overrides.push_back(section + ".precision=" + precision);
  return overrides;
}

void add_compute_args(CLI::App* cmd, ComputeArgs& args, const std::string& section) {
  const bool from_config = !section.empty();
  if (!from_config) args = {"auto", ""};  // precision "": the checkpoint's own train.precision
  auto* device = cmd->add_option("--device", args.device,
                                 from_config ? "auto | cpu | cuda (sets " + section + ".device)"
                                             : "auto | cpu | cuda (auto: cuda when there is one)");
  auto* precision = cmd->add_option("--precision", args.precision,
                                    from_config ? "auto | fp32 | bf16 (sets " + section + ".precision)"
                                                : "auto | fp32 | bf16 (auto: bf16 on CUDA, fp32 on CPU; default: as "
                                                  "the checkpoint was trained, its train.precision)");
  device->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  precision->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  if (!from_config) device->capture_default_str();
}

void refuse_renamed_option(CLI::App* cmd, const std::string& old_name, const std::string& replacement) {
  cmd->add_option(
         old_name,
         [old_name, replacement](const CLI::results_t&) -> bool {
           throw CLI::ValidationError(old_name, "was renamed: use " + replacement + " (README, \"Command line\")");
         },
         "")
      ->expected(0, 1)
      ->group("");
}

}  // namespace mqa::cli

namespace {
// glibc serves every allocation above 32 MB (a batch's vocabulary logits and their gradients) with a fresh mmap and
// gives it back on free, so each training step on the CPU page-faulted and zeroed those buffers anew: 6.3x of a
// small model's step time on 2 cores (perf: page faults and memset). Freed memory is kept for reuse instead; the
// resident size stays at the peak. GPU tensors are not affected (LibTorch's CUDA caching allocator).
void keep_freed_host_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 0);                  // large blocks from the heap, which is reused ...
  mallopt(M_TRIM_THRESHOLD, 1 << 30);      // ... and not handed back to the system while under 1 GB free at its top
#endif
}
}  // namespace

int main(int argc, char** argv) {
  keep_freed_host_memory();
  CLI::App app{"mqa: multi-query attention research framework (Shazeer 2019, reproduced and extended)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mqa ") + MQA_VERSION);
  for (auto& [name, setup] : mqa::cli::registered_commands()) setup(app);
  try {
    mqa::AttentionImpl::apply_sdpa_cudnn_env();
    // The kernels' switches are checked here, before any command, whether or not this build has the kernels.
    mqa::loss_kernels_requested();
    mqa::layer_norm_kernels_requested();
    mqa::relu_epilogue_requested();
    mqa::AttentionImpl::fused_projections_requested();
    mqa::decode_ops::check_kernel_switches();
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
