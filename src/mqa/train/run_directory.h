// How `mqa train` starts in a run directory that may already hold a run (its checkpoint_last.pt). Re-running the
// same command must not fail because its first run left a directory behind:
//   - no run there: a fresh run;
//   - RunDirMode::Resume (--resume): continue it, also with a changed config (the trainer checks that the model,
//     optimizer, seed and data.dir are unchanged);
//   - RunDirMode::Overwrite (--overwrite): delete what a run writes there (checkpoints, metrics.jsonl, config.yaml)
//     and start anew;
//   - RunDirMode::Auto (neither): continue it when its config (run_dir/config.yaml, written by the trainer; the
//     checkpoint's when that is missing) has the same model., data. and train. keys as the one given, and say so;
//     otherwise an error that lists the keys that differ and the three ways on (--resume, --overwrite, --run-dir).
#pragma once
#include <string>

#include "mqa/config/config.h"

namespace mqa {

// runs/<config file name without .yaml>: where `mqa train CONFIG` trains when no --run-dir is given.
std::string default_run_dir(const std::string& config_path);

enum class RunDirMode { Auto, Resume, Overwrite };

struct RunStart {
  bool resume = false;  // continue run_dir/checkpoint_last.pt
  std::string message;  // what was decided and why, for the user; empty for a fresh run in a new directory
};

// Decides how to start. `config` is the resolved config of this invocation with absolute data paths
// (make_data_paths_absolute), as `mqa train` stores it. Throws ConfigError when Auto finds a run of another config.
// Reads only; Overwrite's deletion is clear_run's.
RunStart decide_run_start(const std::string& run_dir, const Config& config, RunDirMode mode);

// Deletes the files a training run writes into run_dir: checkpoint_*.pt (checkpoint_last.pt included),
// metrics.jsonl, config.yaml and leftover .tmp-* files. Other files (logs, evaluation results) stay.
// Returns how many files were deleted.
int clear_run(const std::string& run_dir);

}  // namespace mqa
