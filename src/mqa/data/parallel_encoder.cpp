#include "mqa/data/parallel_encoder.h"

#include <sched.h>

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "mqa/util/strings.h"

namespace mqa {

namespace {
constexpr size_t kChunk = 128;  // lines a thread takes at a time: a few ms of work, little contention
}  // namespace

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

ParallelEncoder::ParallelEncoder(const Tokenizer& tokenizer, int threads)
    : tok_(tokenizer), threads_(threads > 0 ? threads : available_cpus()) {}

ParallelEncoder::~ParallelEncoder() {
  for (auto& t : team_)
    if (t.joinable()) t.join();
}

void ParallelEncoder::start(std::vector<const std::vector<std::string>*> inputs,
                            std::vector<std::vector<std::vector<int>>*> outputs) {
  if (!team_.empty()) throw std::logic_error("ParallelEncoder::start: the previous block was not waited for");
  if (inputs.size() != outputs.size()) throw std::invalid_argument("ParallelEncoder::start: inputs != outputs");
  inputs_ = std::move(inputs);
  outputs_ = std::move(outputs);
  first_.assign(1, 0);
  for (size_t k = 0; k < inputs_.size(); ++k) {
    outputs_[k]->resize(inputs_[k]->size());
    first_.push_back(first_.back() + inputs_[k]->size());
  }
  next_ = 0;
  words_ = 0;
  failed_ = false;
  error_ = nullptr;
  // Small blocks (tests, the tail of a file) are not worth a team.
  const size_t chunks = (first_.back() + kChunk - 1) / kChunk;
  const int team = static_cast<int>(std::min<size_t>(threads_, std::max<size_t>(1, chunks)));
  for (int t = 0; t < team; ++t) team_.emplace_back([this] { work(); });
}

void ParallelEncoder::work() {
  int64_t words = 0;
  try {
    for (;;) {
      const size_t begin = next_.fetch_add(kChunk);
      if (begin >= first_.back() || failed_) break;
      const size_t end = std::min(first_.back(), begin + kChunk);
      for (size_t g = begin; g < end; ++g) {
        // Global line g is line i of input k.
        const size_t k = static_cast<size_t>(std::upper_bound(first_.begin(), first_.end(), g) - first_.begin()) - 1;
        const size_t i = g - first_[k];
        const std::string& line = (*inputs_[k])[i];
        (*outputs_[k])[i] = tok_.encode(line);
        words += count_words(line);
      }
    }
  } catch (...) {
    if (!failed_.exchange(true)) error_ = std::current_exception();
  }
  words_ += words;
}

int64_t ParallelEncoder::wait() {
  for (auto& t : team_) t.join();
  team_.clear();
  if (error_) std::rethrow_exception(error_);
  return words_;
}

}  // namespace mqa
