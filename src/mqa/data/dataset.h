// A prepared split: memory-mapped binary shards of token ids (RAM use does not depend on corpus size).
//
// Layout of a prepared directory (data.dir), written by `mqa prepare` / `mqa synth`:
//   spm.model                       the shared SentencePiece vocabulary
//   {train,valid,test}.src.bin/.idx  seq2seq source ids (+ offsets)      {split}.tgt.bin/.idx  target ids
//   {train,valid,test}.lm.bin/.idx   lm: one document stream (+ sentence offsets)
//   {valid,test}.src.txt/.tgt.txt   raw (detokenised) text of the evaluation splits, for BLEU
//   {valid,test}.txt                raw text of the lm evaluation splits, for per-word perplexity
//   prepare.done                    written last: the directory is complete (see data/prepare.h)
//
// Token conventions: a seq2seq example is (source ids, target ids), neither with bos/eos; the batcher adds bos/eos
// on the target side only (batching.h). An lm split is one stream `s1 eos s2 eos ...` read as if it began with an
// eos, so that the first token of every sentence is predicted; example i is the stream's tokens
// [i*seq_len, i*seq_len + seq_len] (seq_len + 1 tokens, consecutive examples overlap by one), and the last example
// holds whatever remains (at least 2 tokens): every token after the leading eos is predicted exactly once.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mqa/config/config.h"

namespace mqa {

class Dataset {
 public:
  virtual ~Dataset() = default;
  // seq2seq: a pair per example; lm: a packed sequence of seq_len + 1 tokens per example.
  static std::shared_ptr<const Dataset> open(const DataConfig& data, const std::string& model_type,
                                             const std::string& split);
  // An lm stream shard PREFIX.bin/.idx outside a prepared directory (e.g. written by encode_lm_text), packed into
  // examples of seq_len + 1 tokens as a prepared lm split is.
  static std::shared_ptr<const Dataset> open_lm_stream(const std::string& prefix, int64_t seq_len, bool pread = false);
  virtual bool is_lm() const = 0;
  virtual int64_t size() const = 0;
  // Token ids of example i, without bos/eos (seq2seq), or the packed sequence (lm).
  virtual std::vector<int32_t> source(int64_t i) const = 0;
  virtual std::vector<int32_t> target(int64_t i) const = 0;
  virtual int64_t source_length(int64_t i) const = 0;
  virtual int64_t target_length(int64_t i) const = 0;
  // The batcher's fast path: writes the ids of example i as int64 to dst ([source_length(i)] / [target_length(i)]),
  // without allocating.
  virtual void copy_source(int64_t i, int64_t* dst) const;
  virtual void copy_target(int64_t i, int64_t* dst) const;
  // Drops the pages of memory-mapped shards from this process's resident set (they stay in the page cache); the
  // batcher calls it now and then so that RSS does not grow to the corpus size over an epoch.
  virtual void release_pages() const {}
  int pad_id = 0, unk_id = 1, bos_id = 2, eos_id = 3;
};

// Makes sure data.dir holds the vocabulary and shards: generates the built-in corpus (data.synth) or prepares
// the raw text named by data.train_* / data.valid_* / data.test_*; does nothing when they are already there.
// Prints progress. Throws with a clear message when neither is possible, and when the train or valid split holds
// pairs longer than model.max_positions allows (data/position_fit.h).
void ensure_data_ready(const Config& config);

// data.dir + "/spm.model"
std::string vocab_path(const DataConfig& data);

}  // namespace mqa
