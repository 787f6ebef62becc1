// Token-budget batching (the rules are in batching.h). An epoch's plan (which examples form which batch of this
// rank) is built once per epoch from compact per-example lengths; a batch is then filled straight from the
// memory-mapped shards into int64 tensors through raw pointers.
#include "mqa/data/batching.h"

#include "mqa/util/splitmix.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace mqa {

namespace {

using Rng = SplitMix64;

// Batches of one epoch for this rank: batch b holds ids[starts[b] .. starts[b + 1]).
struct Plan {
  int64_t epoch = -1;
  std::vector<int64_t> ids;
  std::vector<int64_t> starts{0};
  int64_t batches() const { return static_cast<int64_t>(starts.size()) - 1; }
};


}  // namespace

struct BatchIterator::Impl {
  std::shared_ptr<const Dataset> data;
  BatchOptions opt;
  // Per example: the source cost S (source length) and target cost T (target length + 1 for bos/eos; lm: length - 1).
  std::vector<int32_t> src_cost, tgt_cost;
  int64_t examples = 0, pool = 0;

  // Position of the consumer: the next batch next() returns is batch `next` of epoch `epoch`.
  int64_t epoch = 0, next = 0;

  std::mutex plan_mutex;
  std::shared_ptr<const Plan> plans[2];  // the two most recent epochs' plans (consumer and prefetcher may differ)

  // Prefetching: the worker builds (epoch, batch) in order from the consumer's position into `queue`.
  struct Item {
    std::optional<Batch> batch;  // nullopt marks the end of an epoch
    std::exception_ptr error;
  };
  std::thread worker;
  std::mutex q_mutex;
  std::condition_variable q_cv;
  std::deque<Item> queue;
  bool stop = false;

  Impl(std::shared_ptr<const Dataset> d, const BatchOptions& o) : data(std::move(d)), opt(o) {
    if (!data) throw std::invalid_argument("BatchIterator: no dataset");
    if (opt.batch_tokens < 1) throw std::invalid_argument(fmt::format("batch_tokens {} < 1", opt.batch_tokens));
    if (opt.world_size < 1 || opt.rank < 0 || opt.rank >= opt.world_size)
      throw std::invalid_argument(fmt::format("BatchIterator: rank {} is not in [0, world_size {})", opt.rank,
                                              opt.world_size));
    examples = data->size();
    if (examples == 0) throw std::runtime_error("BatchIterator: the dataset is empty");
    src_cost.resize(examples);
    tgt_cost.resize(examples);
    const bool lm = data->is_lm();
    int64_t total = 0;
    for (int64_t i = 0; i < examples; ++i) {
      src_cost[i] = static_cast<int32_t>(data->source_length(i));
      tgt_cost[i] = static_cast<int32_t>(lm ? data->target_length(i) - 1 : data->target_length(i) + 1);
      total += std::max(src_cost[i], tgt_cost[i]);
    }
    // Pools of ~100 batches: large enough that sorting leaves little padding, small enough that batches are mixed
    // differently every epoch.
    const int64_t rows = std::max<int64_t>(1, opt.batch_tokens / std::max<int64_t>(1, total / examples));
    pool = std::min(examples, std::max<int64_t>(1024, 100 * rows));
  }

  ~Impl() { stop_worker(); }

  int64_t cost(int64_t i) const { return std::max(src_cost[i], tgt_cost[i]); }

  // Appends batches cut greedily from `order[begin, end)` (already in length order) to `batches`.
  void cut(const std::vector<int64_t>& order, size_t begin, size_t end,
           std::vector<std::vector<int64_t>>& batches) const {
    int64_t rows = 0, max_s = 0, max_t = 0;
    for (size_t k = begin; k < end; ++k) {
      const int64_t i = order[k];
      const int64_t s = std::max<int64_t>(max_s, src_cost[i]), t = std::max<int64_t>(max_t, tgt_cost[i]);
      if (rows > 0 && ((rows + 1) * s > opt.batch_tokens || (rows + 1) * t > opt.batch_tokens)) {
        rows = 0;
        max_s = max_t = 0;
      }
      if (rows == 0) batches.emplace_back();
      batches.back().push_back(i);
      ++rows;
      max_s = std::max<int64_t>(max_s, src_cost[i]);
      max_t = std::max<int64_t>(max_t, tgt_cost[i]);
    }
  }

  std::shared_ptr<const Plan> build_plan(int64_t e) const {
    std::vector<int64_t> order(examples);
    std::iota(order.begin(), order.end(), 0);
    // Length order: the longer side first, then the total; ties keep the order they had (corpus or shuffled).
    auto by_length = [&](int64_t a, int64_t b) {
      const int64_t ca = cost(a), cb = cost(b);
      if (ca != cb) return ca < cb;
      return src_cost[a] + tgt_cost[a] < src_cost[b] + tgt_cost[b];
    };
    std::vector<std::vector<int64_t>> batches;
    auto plan = std::make_shared<Plan>();
    plan->epoch = e;
    if (opt.shuffle) {
      Rng rng(opt.seed * 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(e) + 1) * 0xD1B54A32D192ED03ull);
      rng.shuffle(order);
      for (int64_t begin = 0; begin < examples; begin += pool) {
        const int64_t end = std::min(examples, begin + pool);
        std::stable_sort(order.begin() + begin, order.begin() + end, by_length);
        cut(order, begin, end, batches);
      }
      rng.shuffle(batches);
    } else {
      std::stable_sort(order.begin(), order.end(), by_length);
      cut(order, 0, order.size(), batches);
    }
    const int64_t k = static_cast<int64_t>(batches.size()), w = opt.world_size;
    if (opt.shuffle && k < w)
      throw std::runtime_error(fmt::format("an epoch has {} batches, fewer than world_size {}: use a smaller "
                                           "data.batch_tokens or more data",
                                           k, w));
    const int64_t per_rank = opt.shuffle ? k / w : (k + w - 1) / w;  // training drops, evaluation wraps
    plan->ids.reserve(static_cast<size_t>(examples / w + 1));
    for (int64_t j = 0; j < per_rank; ++j) {
      const auto& b = batches[static_cast<size_t>((opt.rank + j * w) % k)];
      plan->ids.insert(plan->ids.end(), b.begin(), b.end());
      plan->starts.push_back(static_cast<int64_t>(plan->ids.size()));
    }
    return plan;
  }

  std::shared_ptr<const Plan> plan_for(int64_t e) {
    std::lock_guard<std::mutex> lock(plan_mutex);
    for (const auto& p : plans)
      if (p && p->epoch == e) return p;
    auto p = build_plan(e);
    // A new epoch: unmap the shard pages the last one touched (they stay in the page cache). Releasing more often
    // does not bound the resident set (a shuffled epoch touches pages all over the shards within a few hundred
    // batches) and re-faulting is costly on some kernels (10-30x slower on our VM), so once an epoch it is.
    data->release_pages();
    plans[0] = plans[1];
    plans[1] = p;
    return p;
  }

  Batch make_batch(const Plan& plan, int64_t b) {
    const int64_t* ids = plan.ids.data() + plan.starts[b];
    const int64_t rows = plan.starts[b + 1] - plan.starts[b];
    const bool lm = data->is_lm();
    const int64_t pad = data->pad_id;
    int64_t S = 0, T = 0;
    for (int64_t r = 0; r < rows; ++r) {
      S = std::max<int64_t>(S, src_cost[ids[r]]);
      T = std::max<int64_t>(T, tgt_cost[ids[r]]);
    }
    Batch batch;
    batch.example_ids.assign(ids, ids + rows);
    auto opts = torch::TensorOptions().dtype(torch::kInt64);
    batch.tgt_in = torch::empty({rows, T}, opts);   // [B, T]
    batch.tgt_out = torch::empty({rows, T}, opts);  // [B, T]
    int64_t* in = batch.tgt_in.data_ptr<int64_t>();
    int64_t* out = batch.tgt_out.data_ptr<int64_t>();
    if (!lm) {
      batch.src = torch::empty({rows, S}, opts);  // [B, S]
      int64_t* src = batch.src.data_ptr<int64_t>();
      for (int64_t r = 0; r < rows; ++r) {
        int64_t* row = src + r * S;
        const int64_t n = src_cost[ids[r]];
        data->copy_source(ids[r], row);
        std::fill(row + n, row + S, pad);
        batch.src_tokens += n;
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      int64_t* row_in = in + r * T;
      int64_t* row_out = out + r * T;
      const int64_t n = tgt_cost[ids[r]];  // non-pad positions of this row
      if (lm) {
        // Example x[0 .. n] (n + 1 tokens): in = x[0 .. n-1], out = x[1 .. n]; a row holds only n, so x goes
        // through a scratch buffer.
        data->copy_target(ids[r], scratch(n + 1));
        std::memcpy(row_in, scratch_.data(), sizeof(int64_t) * n);
        std::memcpy(row_out, scratch_.data() + 1, sizeof(int64_t) * n);
      } else {
        // in = [bos, y1 .. ym], out = [y1 .. ym, eos], with m = n - 1.
        row_in[0] = data->bos_id;
        data->copy_target(ids[r], row_in + 1);
        std::memcpy(row_out, row_in + 1, sizeof(int64_t) * (n - 1));
        row_out[n - 1] = data->eos_id;
      }
      std::fill(row_in + n, row_in + T, pad);
      std::fill(row_out + n, row_out + T, pad);
      batch.tgt_tokens += n;
    }
    return batch;
  }

  // One reusable buffer for lm rows (make_batch runs on one thread at a time: the worker, or the consumer).
  std::vector<int64_t> scratch_;
  int64_t* scratch(int64_t n) {
    if (static_cast<int64_t>(scratch_.size()) < n) scratch_.resize(n);
    return scratch_.data();
  }

  // ---- synchronous path ------------------------------------------------------------------------------------------
  std::optional<Batch> next_now() {
    auto plan = plan_for(epoch);
    if (next >= plan->batches()) {
      ++epoch;
      next = 0;
      return std::nullopt;
    }
    return make_batch(*plan, next++);
  }

  // ---- prefetching path ------------------------------------------------------------------------------------------
  void start_worker() {
    stop = false;
    worker = std::thread([this, e = epoch, j = next]() mutable {
      for (;;) {
        Item item;
        try {
          auto plan = plan_for(e);
          if (j < plan->batches()) {
            item.batch = make_batch(*plan, j++);
          } else {
            ++e;
            j = 0;
          }
        } catch (...) {
          item.error = std::current_exception();
        }
        std::unique_lock<std::mutex> lock(q_mutex);
        q_cv.wait(lock, [&] { return stop || static_cast<int>(queue.size()) < std::max(1, opt.prefetch); });
        if (stop) return;
        const bool failed = item.error != nullptr;
        queue.push_back(std::move(item));
        q_cv.notify_all();
        if (failed) return;
      }
    });
  }

  void stop_worker() {
    if (!worker.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(q_mutex);
      stop = true;
    }
    q_cv.notify_all();
    worker.join();
    queue.clear();
  }

  std::optional<Batch> next_prefetched() {
    if (!worker.joinable()) start_worker();
    Item item;
    {
      std::unique_lock<std::mutex> lock(q_mutex);
      q_cv.wait(lock, [&] { return !queue.empty(); });
      item = std::move(queue.front());
      queue.pop_front();
    }
    q_cv.notify_all();
    if (item.error) {
      stop_worker();
      std::rethrow_exception(item.error);
    }
    if (!item.batch) {
      ++epoch;
      next = 0;
      return std::nullopt;
    }
    ++next;
    return std::move(item.batch);
  }
};

BatchIterator::BatchIterator(std::shared_ptr<const Dataset> data, const BatchOptions& options)
    : impl_(std::make_shared<Impl>(std::move(data), options)) {}

std::optional<Batch> BatchIterator::next() {
  return impl_->opt.num_workers > 0 ? impl_->next_prefetched() : impl_->next_now();
}

int64_t BatchIterator::epoch() const { return impl_->epoch; }

int64_t BatchIterator::batches_per_epoch() const { return impl_->plan_for(impl_->epoch)->batches(); }

std::string BatchIterator::state() const {
  const auto& o = impl_->opt;
  return fmt::format("mqa.batches v1 epoch={} next={} seed={} shuffle={} world_size={} batch_tokens={} examples={}",
                     impl_->epoch, impl_->next, o.seed, o.shuffle ? 1 : 0, o.world_size, o.batch_tokens,
                     impl_->examples);
}

void BatchIterator::restore(const std::string& state) {
  std::istringstream in(state);
  std::string magic, version;
  in >> magic >> version;
  if (magic != "mqa.batches" || version != "v1")
    throw std::runtime_error(fmt::format("data iterator state '{}': expected 'mqa.batches v1 ...'", state));
  std::map<std::string, int64_t> v;
  std::string field;
  while (in >> field) {
    auto eq = field.find('=');
    if (eq == std::string::npos) throw std::runtime_error(fmt::format("data iterator state: bad field '{}'", field));
    try {
      v[field.substr(0, eq)] = std::stoll(field.substr(eq + 1));
    } catch (const std::exception&) {
      throw std::runtime_error(fmt::format("data iterator state: bad number in '{}'", field));
    }
  }
  const auto& o = impl_->opt;
  // The position means the same batches only under the same cut: everything but the rank must match (all ranks
  // share one position, so one rank's state restores every rank).
  const std::pair<const char*, int64_t> must_match[] = {{"seed", static_cast<int64_t>(o.seed)},
                                                        {"shuffle", o.shuffle ? 1 : 0},
                                                        {"world_size", o.world_size},
                                                        {"batch_tokens", o.batch_tokens},
                                                        {"examples", impl_->examples}};
  for (const auto& [key, want] : must_match) {
    auto it = v.find(key);
    if (it == v.end()) throw std::runtime_error(fmt::format("data iterator state '{}': missing {}", state, key));
    if (it->second != want)
      throw std::runtime_error(fmt::format("data iterator state: {} was {} when saved but is {} now; the saved "
                                           "position would not name the same batches",
                                           key, it->second, want));
  }
  if (!v.count("epoch") || !v.count("next") || v["epoch"] < 0 || v["next"] < 0)
    throw std::runtime_error(fmt::format("data iterator state '{}': missing or negative epoch/next", state));
  impl_->stop_worker();
  impl_->epoch = v["epoch"];
  impl_->next = v["next"];
}

}  // namespace mqa
