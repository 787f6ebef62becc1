// The resolved configuration of a run and how it is read.
//
// A YAML file holds sections (model, data, train, decode, bench) of keys. A file may begin with
// `base: other.yaml` (relative to the file) and override any key of it; `--set section.key=value` overrides on
// the command line come last. Every key is declared once, with type, default, allowed values and help, in the
// section's *_config.cpp (see schema.h); anything else is an error that names file, line, column and key.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "mqa/config/bench_config.h"
#include "mqa/config/data_config.h"
#include "mqa/config/decode_config.h"
#include "mqa/config/model_config.h"
#include "mqa/config/train_config.h"

namespace mqa {

struct Config {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  DecodeConfig decode;
  BenchConfig bench;
};

// Every configuration mistake a user can make is reported through this, with a message that stands on its own.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a value came from: "file:line:column", or "--set" for command-line overrides, or "default".
struct ConfigOrigin {
  std::string key;
  std::string where;
};

struct LoadedConfig {
  Config config;
  std::vector<ConfigOrigin> origins;  // one per key that was set explicitly, in schema order
  std::vector<std::string> files;     // the files read, the given one first, then its bases
};

// Reads `path` (following `base:`), applies `overrides` ("section.key=value"), checks every value and the
// relations between them. Throws ConfigError.
LoadedConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Defaults plus overrides, no file.
LoadedConfig default_config(const std::vector<std::string>& overrides = {});

// The whole configuration as YAML (every key, resolved), with a comment naming where each explicit value came from.
std::string config_to_yaml(const Config& config, const std::vector<ConfigOrigin>& origins = {});

// Every key with type, default, allowed values and help, grouped by section.
std::string describe_config_keys();

// Where `key` was set ("file:line:column", "--set"), or "default" when it was not.
std::string where_is(const std::vector<ConfigOrigin>& origins, const std::string& key);

// Cross-key checks (heads divisible by kv_heads, ...). Throws ConfigError naming the key. Called by load_config.
void validate_config(const Config& config, const std::vector<ConfigOrigin>& origins);

}  // namespace mqa
