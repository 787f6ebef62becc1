// Raw text -> a prepared data directory (layout in dataset.h): checks the text, trains the shared SentencePiece
// vocabulary when data.dir has none, encodes every split into binary shards, filters training pairs by length and
// length ratio, and copies the evaluation text beside the shards.
//
// Everything is written atomically (temporary file + rename) and `prepare.done` last, after removing an old one
// first: an interrupted prepare never leaves a directory that looks complete.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>

#include "mqa/config/data_config.h"

namespace mqa {

// The marker written last by prepare_data; its presence means data.dir is complete.
std::string prepared_marker_path(const DataConfig& data);

// True when data.dir holds a complete prepared corpus of this kind ("seq2seq" or "lm"). Throws when it holds a
// complete corpus of the other kind (a config pointing at the wrong directory).
bool data_dir_ready(const DataConfig& data, const std::string& model_type);

struct PrepareStats {
  int64_t train_kept = 0;
  int64_t dropped_empty = 0;      // a side was empty
  int64_t dropped_too_long = 0;   // a side had more than data.max_len tokens
  int64_t dropped_ratio = 0;      // longer side / shorter side > data.max_len_ratio (seq2seq only)
  int64_t valid = 0, test = 0;    // evaluation examples (never filtered)
};

// Prepares data.dir from the raw text keys of `data` (data.train_source/.. for seq2seq, data.train_text/.. for lm).
// Progress and the filter counts go to `log`. Throws std::runtime_error naming the file (and line) on missing
// files, empty input, invalid UTF-8 or mismatched line counts.
PrepareStats prepare_data(const DataConfig& data, const std::string& model_type, std::ostream& log);

// Checks that a text file exists, is non-empty and is valid UTF-8; returns its number of lines (a last line without
// a newline counts). Throws naming the file, and the line and byte for invalid UTF-8.
int64_t check_text_file(const std::string& path, const std::string& what);

}  // namespace mqa
