// Writes the trainer's checkpoints on a background thread (train.background_save), one at a time.
//
// Why: serialising and writing a training checkpoint blocks the step loop for as long as it takes -- 0.5-0.9 s
// for the 52M-parameter Table 1 model with its Adam state (630 MB), at every save (every 250 steps: 5-8% of a
// run). The trainer now only takes a snapshot (checkpoint_archive with copies of the tensors, made on their device)
// and hands it over; the copy from the device, the serialisation, the fsync, checkpoint_last.pt and the pruning of
// old checkpoints happen here while training goes on.
//
// Nothing is lost by it: a job finishes before the next one starts (so at most one snapshot is held), and the
// trainer waits for the last one before it returns, whatever ends the run (the end, a signal, divergence, an
// error). A failed write is rethrown to the trainer at its next save, poll or wait. With background = false every
// job runs at once, on the caller's thread (the behaviour before).
#pragma once
#include <functional>
#include <future>
#include <optional>
#include <string>

namespace mqa {

class CheckpointWriter {
 public:
  // What a finished job reports: its name (the checkpoint's path) and the seconds it took.
  struct Done {
    std::string name;
    double seconds = 0;
  };

  explicit CheckpointWriter(bool background) : background_(background) {}
  // Waits for the job in flight. A failure is reported on stderr here (a destructor must not throw): the trainer
  // calls wait() on every path where it can still report it properly.
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  bool background() const { return background_; }
  // Waits for the previous job (rethrowing its error), then runs `job` (on the background thread, or here). Returns
  // the previous job's report if it had not been collected yet (and, without a background thread, this job's).
  std::optional<Done> submit(std::string name, std::function<void()> job);
  // The job in flight's report if it has finished (never blocks); rethrows its error.
  std::optional<Done> poll();
  // Waits for the job in flight; returns its report (nullopt when there was none); rethrows its error.
  std::optional<Done> wait();

 private:
  bool background_;
  std::string name_;                // of the job in flight
  std::future<double> in_flight_;  // its seconds
};

}  // namespace mqa
