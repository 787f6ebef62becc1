// Loading, checking and printing configurations. The keys themselves are declared in the *_config.cpp files.
#include "mqa/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "mqa/config/schema.h"
#include "mqa/util/strings.h"

namespace fs = std::filesystem;

namespace mqa {

const std::vector<std::pair<std::string, std::string>>& config_sections() {
  static const std::vector<std::pair<std::string, std::string>> sections = {
      {"model", "the Transformer: sizes and attention variant"},
      {"data", "text, vocabulary and batching"},
      {"train", "optimisation, precision, logging and checkpoints"},
      {"decode", "beam search, greedy and sampling"},
      {"bench", "timed decoding and training"},
  };
  return sections;
}

const std::vector<KeyDef>& config_schema() {
  static const std::vector<KeyDef> keys = [] {
    std::vector<KeyDef> k;
    declare_model_keys(k);
    declare_data_keys(k);
    declare_train_keys(k);
    declare_decode_keys(k);
    declare_bench_keys(k);
    return k;
  }();
  return keys;
}

namespace {

const KeyDef* find_key(const std::string& name) {
  for (const auto& k : config_schema())
    if (k.name == name) return &k;
  return nullptr;
}

std::string suggestion_suffix(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best = closest_match(word, candidates);
  return best.empty() ? "" : fmt::format("; did you mean '{}'?", best);
}

std::vector<std::string> all_key_names() {
  std::vector<std::string> names;
  for (const auto& k : config_schema()) names.push_back(k.name);
  return names;
}

const char* type_name(KeyType t) {
  switch (t) {
    case KeyType::Int: return "an integer";
    case KeyType::Float: return "a number";
    case KeyType::Bool: return "true or false";
    case KeyType::String: return "a string";
  }
  return "?";
}

std::string describe_found(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return fmt::format("'{}'", node.Scalar());
    default: return "an undefined value";
  }
}

std::string where_of(const std::string& file, const YAML::Mark& mark) {
  return fmt::format("{}:{}:{}", file, mark.line + 1, mark.column + 1);
}

// One explicitly given value, before it is checked against its key.
struct RawValue {
  YAML::Node node;
  std::string where;
};

struct RawConfig {
  std::vector<std::string> order;  // keys in the order first seen
  std::map<std::string, RawValue> values;
  std::vector<std::string> files;

  void put(const std::string& k, RawValue v) {
    if (!values.count(k)) order.push_back(k);
    values[k] = std::move(v);
  }
};

YAML::Node parse_yaml_file(const std::string& path) {
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(fmt::format("{}: malformed YAML: {}", where_of(path, e.mark), e.msg));
  } catch (const YAML::BadFile&) {
    throw ConfigError(fmt::format("{}: cannot read config file", path));
  }
}

// Reads `path` and, first, the files it names as `base:`. `chain` holds the files being read, to detect cycles.
void read_config_file(const std::string& path, const std::string& included_from, std::vector<std::string>& chain,
                      RawConfig& raw) {
  std::string canonical = fs::weakly_canonical(fs::path(path)).string();
  if (std::find(chain.begin(), chain.end(), canonical) != chain.end()) {
    std::string cycle;
    for (auto it = std::find(chain.begin(), chain.end(), canonical); it != chain.end(); ++it) cycle += *it + " -> ";
    throw ConfigError(fmt::format("{}: base: inheritance cycle: {}{}", included_from, cycle, canonical));
  }
  if (!fs::exists(path)) {
    if (included_from.empty()) throw ConfigError(fmt::format("{}: config file not found", path));
    throw ConfigError(fmt::format("{}: base: config file not found: {}", included_from, path));
  }
  chain.push_back(canonical);
  raw.files.push_back(path);
  YAML::Node root = parse_yaml_file(path);
  if (root.IsNull()) {
    chain.pop_back();
    return;  // an empty file is an empty config
  }
  if (!root.IsMap())
    throw ConfigError(fmt::format("{}: expected a mapping of sections (model:, data:, ...), found {}",
                                  where_of(path, root.Mark()), describe_found(root)));

  if (YAML::Node base = root["base"]) {
    std::string where = where_of(path, base.Mark());
    if (!base.IsScalar()) throw ConfigError(fmt::format("{}: base: expected a file name, found {}", where,
                                                        describe_found(base)));
    fs::path base_path = fs::path(path).parent_path() / base.Scalar();
    read_config_file(base_path.string(), where, chain, raw);
  }

  std::vector<std::string> section_names;
  for (const auto& s : config_sections()) section_names.push_back(s.first);
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string section = it->first.as<std::string>();
    const std::string where = where_of(path, it->first.Mark());
    if (section == "base") continue;
    if (std::find(section_names.begin(), section_names.end(), section) == section_names.end()) {
      // A bare key at the top level is a common slip: suggest its full name.
      std::vector<std::string> candidates = section_names;
      for (const auto& k : config_schema()) candidates.push_back(k.name.substr(k.name.find('.') + 1));
      std::string best = closest_match(section, candidates);
      std::string hint;
      if (!best.empty()) {
        for (const auto& k : config_schema())
          if (k.name.substr(k.name.find('.') + 1) == best) { best = k.name; break; }
        hint = fmt::format("; did you mean '{}'?", best);
      }
      throw ConfigError(fmt::format("{}: {}: unknown section; expected one of: {}{}", where, section,
                                    join(section_names, ", "), hint));
    }
    const YAML::Node& body = it->second;
    if (body.IsNull()) continue;
    if (!body.IsMap())
      throw ConfigError(fmt::format("{}: {}: expected a mapping of keys, found {}", where, section,
                                    describe_found(body)));
    for (auto kv = body.begin(); kv != body.end(); ++kv) {
      raw.put(section + "." + kv->first.as<std::string>(), RawValue{kv->second, where_of(path, kv->first.Mark())});
    }
  }
  chain.pop_back();
}

void apply_override(const std::string& text, RawConfig& raw) {
  const std::string where = fmt::format("--set {}", text);
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(fmt::format("{}: expected section.key=value", where));
  std::string k = trim(text.substr(0, eq));
  std::string v = text.substr(eq + 1);
  YAML::Node node;
  try {
    node = v.empty() ? YAML::Node(std::string()) : YAML::Load(v);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(fmt::format("{}: malformed value: {}", where, e.msg));
  }
  if (node.IsNull() && !v.empty()) node = YAML::Node(v);  // "--set data.synth=" style empties and "null" text
  raw.put(k, RawValue{node, where});
}

bool parse_bool(const std::string& s, bool& out) {
  std::string l = to_lower(s);
  if (l == "true" || l == "yes" || l == "on") { out = true; return true; }
  if (l == "false" || l == "no" || l == "off") { out = false; return true; }
  return false;
}

// Checks one raw value against its key and converts it.
ConfigValue convert(const KeyDef& def, const RawValue& raw) {
  auto fail = [&](const std::string& problem) {
    return ConfigError(fmt::format("{}: {}: {}", raw.where, def.name, problem));
  };
  const YAML::Node& node = raw.node;
  if (!node.IsScalar() && !(def.type == KeyType::String && node.IsNull()))
    throw fail(fmt::format("expected {}, found {}", type_name(def.type), describe_found(node)));
  const std::string text = node.IsNull() ? std::string() : node.Scalar();
  auto check_range = [&](double x) {
    if ((def.allowed.min && x < *def.allowed.min) || (def.allowed.max && x > *def.allowed.max)) {
      std::string lo = def.allowed.min ? fmt::format("{}", *def.allowed.min) : "-inf";
      std::string hi = def.allowed.max ? fmt::format("{}", *def.allowed.max) : "inf";
      throw fail(fmt::format("{} is out of range; expected a value in [{}, {}]", text, lo, hi));
    }
  };
  switch (def.type) {
    case KeyType::Int: {
      errno = 0;
      char* end = nullptr;
      long long x = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno == ERANGE)
        throw fail(fmt::format("expected an integer, found '{}'", text));
      check_range(static_cast<double>(x));
      return ConfigValue(static_cast<int64_t>(x));
    }
    case KeyType::Float: {
      errno = 0;
      char* end = nullptr;
      double x = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(x))
        throw fail(fmt::format("expected a number, found '{}'", text));
      check_range(x);
      return ConfigValue(x);
    }
    case KeyType::Bool: {
      bool b = false;
      if (!parse_bool(text, b)) throw fail(fmt::format("expected true or false, found '{}'", text));
      return ConfigValue(b);
    }
    case KeyType::String: {
      const auto& choices = def.allowed.choices;
      if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end()) {
        std::vector<std::string> shown;
        for (const auto& c : choices) shown.push_back(c.empty() ? "\"\"" : c);
        throw fail(fmt::format("'{}' is not allowed; expected one of: {}{}", text, join(shown, ", "),
                               suggestion_suffix(text, choices)));
      }
      return ConfigValue(text);
    }
  }
  throw fail("unsupported key type");
}

LoadedConfig resolve(RawConfig raw, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) apply_override(o, raw);
  LoadedConfig out;
  out.files = raw.files;
  for (const auto& name : raw.order) {
    const RawValue& v = raw.values.at(name);
    const KeyDef* def = find_key(name);
    if (!def) {
      throw ConfigError(fmt::format("{}: {}: unknown key{}", v.where, name, suggestion_suffix(name, all_key_names())));
    }
    def->set(out.config, convert(*def, v));
  }
  for (const auto& def : config_schema())
    if (raw.values.count(def.name)) out.origins.push_back({def.name, raw.values.at(def.name).where});
  validate_config(out.config, out.origins);
  return out;
}

std::string format_value(const ConfigValue& v) {
  struct Visitor {
    std::string operator()(int64_t x) const { return std::to_string(x); }
    std::string operator()(double x) const {
      std::string s = fmt::format("{}", x);
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep floats floats when read back
      return s;
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string& s) const {
      std::string q = "\"";
      for (char c : s) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
      }
      return q + "\"";
    }
  };
  return std::visit(Visitor{}, v);
}

}  // namespace

std::string where_is(const std::vector<ConfigOrigin>& origins, const std::string& key) {
  for (const auto& o : origins)
    if (o.key == key) return o.where;
  return "default";
}

LoadedConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  RawConfig raw;
  std::vector<std::string> chain;
  read_config_file(path, "", chain, raw);
  return resolve(std::move(raw), overrides);
}

LoadedConfig default_config(const std::vector<std::string>& overrides) { return resolve(RawConfig{}, overrides); }

void validate_config(const Config& c, const std::vector<ConfigOrigin>& origins) {
  auto fail = [&](const std::string& key, const std::string& problem) {
    return ConfigError(fmt::format("{}: {}: {}", where_is(origins, key), key, problem));
  };
  const ModelConfig& m = c.model;
  if (m.kv_heads > m.heads)
    throw fail("model.kv_heads", fmt::format("{} exceeds model.heads ({}); expected 1 to {}", m.kv_heads, m.heads,
                                             m.heads));
  if (m.heads % m.kv_heads != 0)
    throw fail("model.kv_heads", fmt::format("{} does not divide model.heads ({}); query head i reads key/value "
                                             "head i / (heads / kv_heads)", m.kv_heads, m.heads));
  if (m.window > m.max_positions)
    throw fail("model.window", fmt::format("{} exceeds model.max_positions ({})", m.window, m.max_positions));
  if (c.decode.nbest > c.decode.beam_size)
    throw fail("decode.nbest", fmt::format("{} exceeds decode.beam_size ({})", c.decode.nbest, c.decode.beam_size));
  if (c.data.seq_len > m.max_positions && m.type == "lm")
    throw fail("data.seq_len", fmt::format("{} exceeds model.max_positions ({})", c.data.seq_len, m.max_positions));
  if (c.train.schedule == "cosine" && c.train.max_steps <= c.train.warmup_steps)
    throw fail("train.max_steps",
               fmt::format("{} leaves no steps for the cosine decay, which runs from train.warmup_steps ({}, {}) to "
                           "train.max_steps; expected more than {}",
                           c.train.max_steps, c.train.warmup_steps, where_is(origins, "train.warmup_steps"),
                           c.train.warmup_steps));
  // prepare keeps sentences of up to data.max_len tokens, and the batcher adds bos to the target: [bos, y1..yn] in,
  // [y1..yn, eos] out, n + 1 decoder positions. (An lm packs its stream into data.seq_len, checked above.)
  if (m.type == "seq2seq" && c.data.max_len + 1 > m.max_positions)
    throw fail("data.max_len",
               fmt::format("{} leaves no room for bos: a target of data.max_len tokens takes data.max_len + 1 = {} "
                           "decoder positions, more than model.max_positions ({}, {}); expected data.max_len <= {}",
                           c.data.max_len, c.data.max_len + 1, m.max_positions,
                           where_is(origins, "model.max_positions"), m.max_positions - 1));
}

std::string config_to_yaml(const Config& config, const std::vector<ConfigOrigin>& origins) {
  std::ostringstream out;
  for (const auto& [section, help] : config_sections()) {
    out << section << ":  # " << help << "\n";
    for (const auto& def : config_schema()) {
      if (def.name.compare(0, section.size() + 1, section + ".") != 0) continue;
      std::string line = fmt::format("  {}: {}", def.name.substr(section.size() + 1), format_value(def.get(config)));
      std::string where = where_is(origins, def.name);
      if (where != "default") line = fmt::format("{:<40}  # {}", line, where);
      out << line << "\n";
    }
  }
  return out.str();
}

std::string describe_config_keys() {
  static const Config defaults;
  std::ostringstream out;
  for (const auto& [section, help] : config_sections()) {
    out << section << ": " << help << "\n";
    for (const auto& def : config_schema()) {
      if (def.name.compare(0, section.size() + 1, section + ".") != 0) continue;
      static const char* kinds[] = {"int", "float", "bool", "string"};
      std::string allowed;
      if (!def.allowed.choices.empty()) {
        std::vector<std::string> shown;
        for (const auto& c : def.allowed.choices) shown.push_back(c.empty() ? "\"\"" : c);
        allowed = "one of " + join(shown, "|");
      } else if (def.allowed.min || def.allowed.max) {
        allowed = fmt::format("[{}, {}]", def.allowed.min ? fmt::format("{}", *def.allowed.min) : "-inf",
                              def.allowed.max ? fmt::format("{}", *def.allowed.max) : "inf");
      }
      out << fmt::format("  {:<28} {:<6} default {:<16} {}\n", def.name, kinds[static_cast<int>(def.type)],
                         format_value(def.get(defaults)), allowed);
      out << fmt::format("      {}\n", def.help);
    }
  }
  return out.str();
}

}  // namespace mqa
