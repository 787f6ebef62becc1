#include "mqa/train/gradient_reducer.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <mutex>

namespace mqa {

struct GradientReducer::State {
  std::vector<torch::Tensor> params;
  StartAllReduce start;
  std::vector<std::vector<size_t>> bucket_params;  // parameter indices of each bucket, in flattening order
  std::vector<size_t> bucket_of;                   // bucket of each parameter
  // The AccumulateGrad nodes: a parameter holds its node weakly, so without these the hooks would go with them.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<uintptr_t> hook_keys;

  std::mutex mutex;  // hooks run on the autograd engine's thread
  bool armed = false;
  std::vector<bool> ready;
  std::vector<size_t> pending;  // per bucket: gradients not ready yet
  size_t next = 0;              // the next bucket to start
  size_t ready_count = 0;
  std::vector<torch::Tensor> flats;
  std::vector<std::function<void()>> waits;
  int64_t started_by_hook = 0;
  int64_t ready_at_first = -1;

  // Flattens bucket b (zeros for a parameter without a gradient) and starts its all-reduce. Caller holds the mutex.
  void start_bucket(size_t b, bool from_hook) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    for (size_t i : bucket_params[b]) {
      const auto& g = params[i].grad();
      parts.push_back(g.defined() ? g.reshape({-1}) : torch::zeros({params[i].numel()}, params[i].options()));
    }
    flats[b] = torch::cat(parts);  // [bucket elements]
    if (ready_at_first < 0) ready_at_first = static_cast<int64_t>(ready_count);
    waits[b] = start(flats[b]);
    if (from_hook) ++started_by_hook;
  }

  void mark_ready(size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed || ready[i]) return;
    ready[i] = true;
    ++ready_count;
    --pending[bucket_of[i]];
    while (next < bucket_params.size() && pending[next] == 0) start_bucket(next++, /*from_hook=*/true);
  }
};

namespace {
struct ReadyHook : public torch::autograd::FunctionPostHook {
  ReadyHook(std::weak_ptr<GradientReducer::State> state, size_t index) : state(std::move(state)), index(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    if (auto s = state.lock()) s->mark_ready(index);
    return outputs;
  }
  std::weak_ptr<GradientReducer::State> state;
  size_t index;
};
}  // namespace

GradientReducer::GradientReducer(std::vector<torch::Tensor> params, int64_t bucket_bytes, StartAllReduce start)
    : state_(std::make_shared<State>()) {
  auto& s = *state_;
  s.params = std::move(params);
  s.start = std::move(start);
  const size_t n = s.params.size();
  s.bucket_of.assign(n, 0);
  int64_t bytes = 0;
  for (size_t k = n; k-- > 0;) {  // reverse registration order
    const auto& p = s.params[k];
    TORCH_CHECK(p.requires_grad() && p.is_leaf(), "GradientReducer: parameter ", k, " is not a leaf requiring grad");
    const int64_t size = p.numel() * static_cast<int64_t>(p.element_size());
    const bool fits = !s.bucket_params.empty() && bytes + size <= bucket_bytes &&
                      s.params[s.bucket_params.back().front()].scalar_type() == p.scalar_type();
    if (!fits) {
      s.bucket_params.emplace_back();
      bytes = 0;
    }
    s.bucket_params.back().push_back(k);
    s.bucket_of[k] = s.bucket_params.size() - 1;
    bytes += size;
  }
  for (size_t k = 0; k < n; ++k) {
    auto acc = torch::autograd::impl::grad_accumulator(s.params[k]);
    s.hook_keys.push_back(acc->add_post_hook(std::make_unique<ReadyHook>(state_, k)));
    s.accumulators.push_back(std::move(acc));
  }
}

GradientReducer::~GradientReducer() {
  auto& s = *state_;
  for (size_t k = 0; k < s.accumulators.size(); ++k) s.accumulators[k]->del_post_hook(s.hook_keys[k]);
}

void GradientReducer::arm() {
  auto& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  TORCH_CHECK(!s.armed, "GradientReducer::arm: already armed (finish() was not called)");
  s.armed = true;
  s.ready.assign(s.params.size(), false);
  s.pending.clear();
  for (const auto& b : s.bucket_params) s.pending.push_back(b.size());
  s.next = 0;
  s.ready_count = 0;
  s.flats.assign(s.bucket_params.size(), torch::Tensor());
  s.waits.assign(s.bucket_params.size(), nullptr);
  s.started_by_hook = 0;
  s.ready_at_first = -1;
}

void GradientReducer::finish() {
  auto& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  TORCH_CHECK(s.armed, "GradientReducer::finish: arm() was not called");
  s.armed = false;
  while (s.next < s.bucket_params.size()) s.start_bucket(s.next++, /*from_hook=*/false);
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < s.bucket_params.size(); ++b) {
    s.waits[b]();
    int64_t offset = 0;
    for (size_t i : s.bucket_params[b]) {
      auto g = s.params[i].grad();
      const int64_t n = s.params[i].numel();
      if (g.defined()) g.copy_(s.flats[b].narrow(0, offset, n).view_as(g));
      offset += n;
    }
    s.flats[b] = torch::Tensor();
  }
}

int64_t GradientReducer::buckets() const { return static_cast<int64_t>(state_->bucket_params.size()); }
int64_t GradientReducer::started_during_backward() const { return state_->started_by_hook; }
int64_t GradientReducer::ready_at_first_start() const { return state_->ready_at_first; }

}  // namespace mqa
