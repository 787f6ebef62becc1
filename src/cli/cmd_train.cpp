// `mqa train CONFIG [--set k=v ...] [--run-dir DIR] [--resume]`: trains a model (src/mqa/train/trainer.h).
//
// Exit status: 0 when training finished; 130 / 143 when stopped by SIGINT / SIGTERM (after finishing the step and
// writing a checkpoint; `--resume` continues); 1 on errors, including a non-finite loss (the message names the
// step and the last good checkpoint, which is left as it was); 2 on config errors.
#include <csignal>
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "mqa/config/config.h"
#include "mqa/train/metrics.h"
#include "mqa/train/trainer.h"

static void setup_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a model; writes config.yaml, metrics.jsonl and checkpoints to the run "
                                          "directory");
  static mqa::cli::ConfigArgs args;
  static std::string run_dir;
  static bool resume = false;
  mqa::cli::add_config_args(cmd, args);
  cmd->add_option("--run-dir", run_dir, "output directory (default runs/<config name>)");
  cmd->add_flag("--resume", resume, "continue from RUN_DIR/checkpoint_last.pt (model, optimizer, step, RNG, data)");
  cmd->callback([] {
    auto loaded = mqa::load_config(args.path, args.overrides);
    mqa::TrainerOptions options;
    options.run_dir = run_dir;
    options.resume = resume;
    options.out = &std::cout;
    options.tty = mqa::Progress::stdout_is_tty();
    auto result = mqa::train_from_config(args.path, loaded, options);
    switch (result.status) {
      case mqa::TrainStatus::Finished:
        std::cout << fmt::format("done: {} steps; checkpoint {}\n", result.step, result.last_checkpoint);
        return;
      case mqa::TrainStatus::Interrupted:
        std::cout << fmt::format("stopped at step {}; checkpoint {}; continue with --resume\n", result.step,
                                 result.last_checkpoint);
        throw mqa::cli::Exit{128 + result.signal};
      case mqa::TrainStatus::Diverged:
        std::cerr << "mqa: training diverged: " << result.message << "\n";
        throw mqa::cli::Exit{1};
    }
  });
}
MQA_COMMAND(train, setup_train);
