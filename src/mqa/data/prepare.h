// Raw text -> a prepared data directory (layout in dataset.h): checks the text, trains the shared SentencePiece
// vocabulary when data.dir has none, encodes every split into binary shards, filters training pairs by length and
// length ratio, drops evaluation pairs longer than data.max_len from the shards (the model cannot take them; the
// counts are printed), and copies the evaluation text, complete, beside the shards (BLEU decodes every line).
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
  int64_t valid = 0, test = 0;    // evaluation examples kept
  // seq2seq evaluation pairs with a side longer than data.max_len, left out of the shards (not of the raw text)
  int64_t valid_too_long = 0, test_too_long = 0;
};

// Prepares data.dir from the raw text keys of `data` (data.train_source/.. for seq2seq, data.train_text/.. for lm).
// Progress and the filter counts go to `log`. Throws std::runtime_error naming the file (and line) on missing
// files, empty input, invalid UTF-8 or mismatched line counts.
PrepareStats prepare_data(const DataConfig& data, const std::string& model_type, std::ostream& log);

class Tokenizer;

// Encodes a raw text file, one sentence (or paragraph) a line, as an lm stream shard OUT_PREFIX.bin/.idx (every
// line, empty ones too, followed by eos; nothing filtered), for Dataset::open_lm_stream. Returns the lines written.
// Throws like check_text_file.
int64_t encode_lm_text(const Tokenizer& tokenizer, const std::string& text_path, const std::string& out_prefix,
                       std::ostream& log);

// Checks that a text file exists, is non-empty and is valid UTF-8; returns its number of lines (a last line without
// a newline counts). Throws naming the file, and the line and byte for invalid UTF-8.
int64_t check_text_file(const std::string& path, const std::string& what);

}  // namespace mqa
