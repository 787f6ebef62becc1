// An on/off switch read from the environment (MQA_SDPA_CUDNN, MQA_LOSS_KERNELS, MQA_LAYER_NORM_KERNELS): unset gives
// the default, "0" off, "1" on, and any other value is an error naming the variable and what it does.
#pragma once
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace mqa {

inline bool env_switch(const char* name, bool unset, const std::string& what) {
  const char* value = std::getenv(name);
  if (value == nullptr) return unset;
  const std::string v = value;
  if (v == "0" || v == "1") return v == "1";
  throw std::invalid_argument(std::string(name) + "=" + v + ": expected 0 or 1 (" + what + ")");
}

}  // namespace mqa
