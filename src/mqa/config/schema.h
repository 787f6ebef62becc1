// Declaring configuration keys. Each section's *_config.cpp lists its keys once, binding each to its struct field:
//
//   keys.push_back(key("model.heads", &Config::model, &ModelConfig::heads, "query heads h", at_least(1)));
//
// The default is the field's initialiser in the struct; loading, checking, printing and `mqa config keys` all
// read this one list.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "mqa/config/config.h"

namespace mqa {

enum class KeyType { Int, Float, Bool, String };
using ConfigValue = std::variant<int64_t, double, bool, std::string>;

struct Allowed {
  std::optional<double> min, max;     // numbers: inclusive bounds
  std::vector<std::string> choices;   // strings: the accepted values
};
inline Allowed at_least(double lo) { return Allowed{lo, std::nullopt, {}}; }
inline Allowed range(double lo, double hi) { return Allowed{lo, hi, {}}; }
inline Allowed one_of(std::vector<std::string> choices) { return Allowed{std::nullopt, std::nullopt, std::move(choices)}; }

struct KeyDef {
  std::string name;   // "section.key"
  KeyType type;
  std::string help;
  Allowed allowed;
  std::function<ConfigValue(const Config&)> get;
  std::function<void(Config&, const ConfigValue&)> set;
};

template <class Section, class T>
KeyDef key(std::string name, Section Config::*section, T Section::*field, std::string help, Allowed allowed = {}) {
  KeyDef def;
  def.name = std::move(name);
  def.help = std::move(help);
  def.allowed = std::move(allowed);
  if constexpr (std::is_same_v<T, bool>) {
    def.type = KeyType::Bool;
    def.get = [=](const Config& c) { return ConfigValue((c.*section).*field); };
    def.set = [=](Config& c, const ConfigValue& v) { (c.*section).*field = std::get<bool>(v); };
  } else if constexpr (std::is_integral_v<T>) {
    def.type = KeyType::Int;
    def.get = [=](const Config& c) { return ConfigValue(static_cast<int64_t>((c.*section).*field)); };
    def.set = [=](Config& c, const ConfigValue& v) { (c.*section).*field = static_cast<T>(std::get<int64_t>(v)); };
  } else if constexpr (std::is_floating_point_v<T>) {
    def.type = KeyType::Float;
    def.get = [=](const Config& c) { return ConfigValue(static_cast<double>((c.*section).*field)); };
    def.set = [=](Config& c, const ConfigValue& v) { (c.*section).*field = static_cast<T>(std::get<double>(v)); };
  } else {
    static_assert(std::is_same_v<T, std::string>, "config keys are int, double, bool or string");
    def.type = KeyType::String;
    def.get = [=](const Config& c) { return ConfigValue((c.*section).*field); };
    def.set = [=](Config& c, const ConfigValue& v) { (c.*section).*field = std::get<std::string>(v); };
  }
  return def;
}

// Each section's keys, defined in its *_config.cpp.
void declare_model_keys(std::vector<KeyDef>& keys);
void declare_data_keys(std::vector<KeyDef>& keys);
void declare_train_keys(std::vector<KeyDef>& keys);
void declare_decode_keys(std::vector<KeyDef>& keys);
void declare_bench_keys(std::vector<KeyDef>& keys);

// All keys, in section order.
const std::vector<KeyDef>& config_schema();
// The section names, in order, with a line of help each.
const std::vector<std::pair<std::string, std::string>>& config_sections();

}  // namespace mqa
