// An on/off switch read from the environment (MQA_SDPA_CUDNN, MQA_LOSS_KERNELS, MQA_LAYER_NORM_KERNELS,
// MQA_RELU_EPILOGUE, MQA_FUSED_PROJECTIONS, MQA_DECODE_SPLIT_MERGE, MQA_DECODE_TENSOR_CORES,
// MQA_DECODE_NORM_BLOCK, MQA_DECODE_BEAM_UPDATE): unset gives the default, "0" off, "1" on, and any other value is an
// error naming the variable and what it does.
#pragma once
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace mqa {

inline bool env_switch(const char* name, bool unset, const std::string& what) {
  const char* value = std::getenv(name);
  if (value == nullptr) return unset;
  const std::string v = value;
  if (v == "0" || v == "1") return v == "1";
  throw std::invalid_argument(std::string(name) + "=" + v + ": expected 0 or 1 (" + what + ")");
}

// A process-wide on/off switch of one of mqa's kernel paths: what the environment variable `name` asks for (unset:
// on), read once at the first question, unless a test set it.
class KernelSwitch {
 public:
  KernelSwitch(const char* name, std::string what) : name_(name), what_(std::move(what)) {}
  // The environment's answer (env_switch: a bad value throws, and is asked again next time).
  bool requested() const {
    std::call_once(read_, [this] { requested_ = env_switch(name_, true, what_); });
    return requested_;
  }
  bool on() const { return set_ ? *set_ : requested(); }
  void set(bool on) { set_ = on; }

 private:
  const char* name_;
  std::string what_;
  mutable std::once_flag read_;
  mutable bool requested_ = true;
  std::optional<bool> set_;
};

}  // namespace mqa
