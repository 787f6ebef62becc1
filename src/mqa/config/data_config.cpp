#include "mqa/config/schema.h"

#include <filesystem>

namespace mqa {

void make_data_paths_absolute(DataConfig& d) {
  for (std::string* path : {&d.dir, &d.train_source, &d.train_target, &d.valid_source, &d.valid_target, &d.test_source,
                            &d.test_target, &d.train_text, &d.valid_text, &d.test_text})
    if (!path->empty()) *path = std::filesystem::absolute(*path).lexically_normal().string();
}

void declare_data_keys(std::vector<KeyDef>& k) {
  using D = DataConfig;
  const auto S = &Config::data;
  k.push_back(key("data.dir", S, &D::dir,
                  "prepared data directory (vocabulary spm.model and binary shards, written by mqa prepare); "
                  "relative paths are relative to the working directory; mqa train stores them absolute"));
  k.push_back(key("data.synth", S, &D::synth,
                  "generate mqa's built-in corpus into data.dir when it is missing: translation or lm; empty = off",
                  one_of({"", "translation", "lm"})));
  k.push_back(key("data.train_source", S, &D::train_source, "raw training source text, one sentence a line"));
  k.push_back(key("data.train_target", S, &D::train_target, "raw training target text, line-aligned with the source"));
  k.push_back(key("data.valid_source", S, &D::valid_source, "raw dev source text"));
  k.push_back(key("data.valid_target", S, &D::valid_target, "raw dev target text"));
  k.push_back(key("data.test_source", S, &D::test_source, "raw test source text"));
  k.push_back(key("data.test_target", S, &D::test_target, "raw test target text"));
  k.push_back(key("data.train_text", S, &D::train_text, "raw training text for a language model"));
  k.push_back(key("data.valid_text", S, &D::valid_text, "raw dev text for a language model"));
  k.push_back(key("data.test_text", S, &D::test_text, "raw test text for a language model"));
  k.push_back(key("data.vocab_size", S, &D::vocab_size, "SentencePiece vocabulary size (shared source/target)",
                  range(8, 1 << 20)));
  k.push_back(key("data.spm_model_type", S, &D::spm_model_type, "SentencePiece model type",
                  one_of({"unigram", "bpe"})));
  k.push_back(key("data.spm_sentences", S, &D::spm_sentences,
                  "lines the SentencePiece vocabulary is trained on (a random sample of the training text when it "
                  "has more)",
                  range(1, 1 << 30)));
  k.push_back(key("data.prepare_threads", S, &D::prepare_threads,
                  "threads of mqa prepare (SentencePiece training and encoding); 0 = every CPU this process may use",
                  range(0, 4096)));
  k.push_back(key("data.max_len", S, &D::max_len,
                  "sentences longer than this many tokens are dropped: from training, and (seq2seq) from the "
                  "perplexity shards of valid/test (their BLEU text keeps every line); seq2seq needs "
                  "max_len + 1 <= model.max_positions (the decoder adds bos)",
                  range(1, 1 << 20)));
  k.push_back(key("data.max_len_ratio", S, &D::max_len_ratio,
                  "training pairs whose token-length ratio exceeds this are dropped", range(1, 1000)));
  k.push_back(key("data.seq_len", S, &D::seq_len, "language model: tokens per packed training sequence",
                  range(2, 1 << 20)));
  k.push_back(key("data.batch_tokens", S, &D::batch_tokens,
                  "token budget of one batch: sentences x longest length (with padding), per side",
                  range(1, 1 << 30)));
  k.push_back(key("data.num_workers", S, &D::num_workers, "background loader threads", range(0, 64)));
  k.push_back(key("data.read", S, &D::read,
                  "how batches read the token shards: mmap (fastest; pages read stay in RSS as clean page cache "
                  "until the next epoch) or pread (a system call per example; RSS stays flat whatever the corpus "
                  "size)",
                  one_of({"mmap", "pread"})));
}

}  // namespace mqa
