// SentencePiece encoding of blocks of lines on a team of threads, in the background, for `mqa prepare`.
//
// start() spreads the lines of a block over the threads and returns at once, so that the caller reads the next
// block from disk meanwhile; wait() joins and returns the block's words. Each thread takes the next chunk of lines
// from a shared counter (lines differ in length: a fixed split would leave threads idle), and writes line i's ids
// to out[i], so the output order never depends on the schedule: the shards are the same bytes for any number of
// threads. SentencePiece's Encode is const and thread-safe.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "mqa/data/tokenizer.h"

namespace mqa {

// The CPUs this process may run on (its affinity mask; containers often allow fewer than the host has).
int available_cpus();

class ParallelEncoder {
 public:
  // threads <= 0: available_cpus().
  ParallelEncoder(const Tokenizer& tokenizer, int threads);
  ~ParallelEncoder();
  ParallelEncoder(const ParallelEncoder&) = delete;
  ParallelEncoder& operator=(const ParallelEncoder&) = delete;

  // Encodes (*inputs[k])[i] into (*outputs[k])[i] for every k and i (outputs are resized). The inputs must stay
  // unchanged until wait().
  void start(std::vector<const std::vector<std::string>*> inputs, std::vector<std::vector<std::vector<int>>*> outputs);
  // Waits for the block of the last start(); returns its whitespace words. Rethrows a worker's exception.
  int64_t wait();
  int threads() const { return threads_; }

 private:
  void work();
  const Tokenizer& tok_;
  int threads_;
  std::vector<const std::vector<std::string>*> inputs_;
  std::vector<std::vector<std::vector<int>>*> outputs_;
  std::vector<size_t> first_;  // first_[k]: global index of input k's line 0; first_.back(): total lines
  std::atomic<size_t> next_{0};
  std::atomic<int64_t> words_{0};
  std::vector<std::thread> team_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

}  // namespace mqa
