// The `data:` section: where text comes from, the vocabulary, and how it is prepared.
#pragma once
#include <string>

namespace mqa {

struct DataConfig {
  std::string dir = "data/quickstart";  // prepared directory: spm.model + binary shards (mqa prepare)
  std::string synth = "";               // "" | translation | lm: generate the built-in corpus into dir if missing
  std::string train_source = "";        // raw text, one sentence a line (seq2seq), for mqa prepare
  std::string train_target = "";
  std::string valid_source = "";
  std::string valid_target = "";
  std::string test_source = "";
  std::string test_target = "";
  std::string train_text = "";          // raw monolingual text (lm)
  std::string valid_text = "";
  std::string test_text = "";
  int vocab_size = 32000;               // shared SentencePiece vocabulary
  std::string spm_model_type = "unigram";  // unigram | bpe
  int spm_sentences = 2000000;          // lines SentencePiece trains on (a random sample when there are more)
  int prepare_threads = 0;              // threads that encode (and train the vocabulary); 0 = every CPU allowed
  int max_len = 256;                    // sentences longer than this (tokens) are dropped from training
  double max_len_ratio = 3.0;           // ... and pairs whose length ratio exceeds this
  int seq_len = 256;                    // lm: packed sequence length
  int batch_tokens = 4096;              // token budget of one batch (source or target side, whichever is larger)
  int num_workers = 1;                  // loader threads
  std::string read = "mmap";            // mmap | pread: how the loader reads token shards (see data/shard.h)
};

// Makes data.dir and the raw text paths absolute against the current directory (the one relative paths are read
// from), normalised; empty ones stay empty. `mqa train` stores its config so, and checkpoints are read so
// (checkpoint.h), which lets a checkpoint be evaluated from any directory.
void make_data_paths_absolute(DataConfig& data);

}  // namespace mqa
