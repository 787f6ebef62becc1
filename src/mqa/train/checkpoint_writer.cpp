#include "mqa/train/checkpoint_writer.h"

#include <chrono>
#include <iostream>

namespace mqa {

namespace {
double timed(const std::function<void()>& job) {
  const auto start = std::chrono::steady_clock::now();
  job();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

CheckpointWriter::~CheckpointWriter() {
  if (!in_flight_.valid()) return;
  try {
    in_flight_.get();
  } catch (const std::exception& e) {
    std::cerr << "error: writing checkpoint " << name_ << " failed: " << e.what() << "\n";
  }
}

std::optional<CheckpointWriter::Done> CheckpointWriter::submit(std::string name, std::function<void()> job) {
  std::optional<Done> previous = wait();
  if (!background_) return Done{std::move(name), timed(job)};
  name_ = std::move(name);
  in_flight_ = std::async(std::launch::async, [job = std::move(job)] { return timed(job); });
  return previous;
}

std::optional<CheckpointWriter::Done> CheckpointWriter::poll() {
  if (!in_flight_.valid() || in_flight_.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    return std::nullopt;
  return wait();
}

std::optional<CheckpointWriter::Done> CheckpointWriter::wait() {
  if (!in_flight_.valid()) return std::nullopt;
  const double seconds = in_flight_.get();  // invalidates the future, also when it throws
  return Done{name_, seconds};
}

}  // namespace mqa
