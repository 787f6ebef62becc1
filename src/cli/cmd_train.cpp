// `mqa train CONFIG [--set k=v ...] [--device D] [--precision P] [--run-dir DIR] [--resume | --overwrite]`: trains a
// model (src/mqa/train/trainer.h). A run directory that already holds a run is continued when the config is the
// same, and is otherwise an error that says what to do (src/mqa/train/run_directory.h). Data paths are stored
// absolute (config.yaml, checkpoints), so the checkpoints can be evaluated from any directory.
//
// Exit status: 0 when training finished; 130 / 143 when stopped by SIGINT / SIGTERM (after finishing the step and
// writing a checkpoint; `--resume` continues); 1 on errors, including a non-finite loss (the message names the
// step and the last good checkpoint, which is left as it was); 2 on config errors.
//
// Data-parallel under torchrun (docs/distributed.md): every rank runs this command; only rank 0 prints.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "cli/command.h"
#include "mqa/config/config.h"
#include "mqa/train/distributed.h"
#include "mqa/train/metrics.h"
#include "mqa/train/run_directory.h"
#include "mqa/train/trainer.h"
#include "mqa/util/device.h"

// Fault injection for tests/test_train_distributed.cpp: MQA_TEST_EXIT_AFTER_STEP=RANK:STEP makes that rank
// vanish (exit status 3, no goodbye to its peers) right after that optimizer step, like a crashed process.
static void add_test_crash(mqa::TrainerOptions& options) {
  const char* spec = std::getenv("MQA_TEST_EXIT_AFTER_STEP");
  if (!spec) return;
  const std::string s(spec);
  const auto colon = s.find(':');
  const char* rank_env = std::getenv("RANK");
  if (colon == std::string::npos || std::stoi(s.substr(0, colon)) != (rank_env ? std::atoi(rank_env) : 0)) return;
  const int64_t step = std::stoll(s.substr(colon + 1));
  options.after_step = [step](mqa::Transformer&, int64_t done) {
    if (done == step) std::_Exit(3);
  };
}

static void setup_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a model; writes config.yaml, metrics.jsonl and checkpoints to the run "
                                          "directory");
  static mqa::cli::ConfigArgs args;
  static mqa::cli::ComputeArgs compute;
  static std::string run_dir;
  static bool resume = false, overwrite = false;
  mqa::cli::add_config_args(cmd, args);
  mqa::cli::add_compute_args(cmd, compute, "train");
  cmd->add_option("--run-dir", run_dir, "output directory (default runs/<config name>)");
  auto* resume_flag = cmd->add_flag(
      "--resume", resume,
      "continue RUN_DIR/checkpoint_last.pt (model, optimizer, step, RNG, data) even when the config changed; without "
      "it a run of the same config is continued and one of another config is an error");
  cmd->add_flag("--overwrite", overwrite, "delete the run in RUN_DIR (checkpoints, metrics.jsonl, config.yaml) and "
                                          "start anew")
      ->excludes(resume_flag);
  cmd->callback([] {
    auto loaded = mqa::load_config(args.path, compute.append_overrides(args.overrides, "train"));
    mqa::make_data_paths_absolute(loaded.config.data);
    mqa::TrainerOptions options;
    options.run_dir = run_dir.empty() ? mqa::default_run_dir(args.path) : run_dir;
    // Every rank of a torchrun job decides alike; rank 0 alone deletes, before anyone looks.
    options.dist = mqa::Distributed::from_environment(mqa::resolve_device(loaded.config.train.device));
    if (overwrite) {
      if (options.dist->is_main()) mqa::clear_run(options.run_dir);
      options.dist->barrier();
    }
    const mqa::RunStart start = mqa::decide_run_start(
        options.run_dir, loaded.config,
        overwrite ? mqa::RunDirMode::Overwrite : resume ? mqa::RunDirMode::Resume : mqa::RunDirMode::Auto);
    if (!start.message.empty() && options.dist->is_main()) std::cout << start.message << "\n";
    options.resume = start.resume;
    options.out = &std::cout;
    options.tty = mqa::Progress::stdout_is_tty();
    add_test_crash(options);
    auto result = mqa::train_from_config(args.path, loaded, options);
    switch (result.status) {
      case mqa::TrainStatus::Finished:
        if (!result.main_rank) return;
        std::cout << fmt::format("done: {} steps; checkpoint {}\n", result.step, result.last_checkpoint);
        return;
      case mqa::TrainStatus::Interrupted:
        if (result.main_rank)
          std::cout << fmt::format("stopped at step {}; checkpoint {}; continue with --resume\n", result.step,
                                   result.last_checkpoint);
        throw mqa::cli::Exit{128 + result.signal};
      case mqa::TrainStatus::Diverged:
        if (result.main_rank) std::cerr << "mqa: training diverged: " << result.message << "\n";
        throw mqa::cli::Exit{1};
    }
  });
}
MQA_COMMAND(train, setup_train);
