// The trainer's view of data: a resumable stream of batches. The real one wraps data/batching.h's BatchIterator;
// tests feed small synthetic batches through the same interface, so the loop is tested without a prepared corpus.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "mqa/data/batching.h"

namespace mqa {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // The next batch of the current epoch, or nullopt when the epoch is over (the call after starts the next one).
  virtual std::optional<Batch> next() = 0;
  virtual int64_t epoch() const = 0;
  // Serialised position: restore(state()) continues with exactly the batches that would have come next.
  virtual std::string state() const = 0;
  virtual void restore(const std::string& state) = 0;
};

class IteratorBatchSource : public BatchSource {
 public:
  explicit IteratorBatchSource(std::shared_ptr<BatchIterator> it) : it_(std::move(it)) {}
  std::optional<Batch> next() override { return it_->next(); }
  int64_t epoch() const override { return it_->epoch(); }
  std::string state() const override { return it_->state(); }
  void restore(const std::string& state) override { it_->restore(state); }

 private:
  std::shared_ptr<BatchIterator> it_;
};

}  // namespace mqa
