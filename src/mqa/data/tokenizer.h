// A SentencePiece vocabulary, reached through libmqa_spm.so (see src/spm_bridge/spm_bridge.h for why).
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace mqa {

struct SpmTrainOptions {
  std::vector<std::string> inputs;  // text files, one sentence a line
  std::string model_prefix;         // writes PREFIX.model and PREFIX.vocab
  int vocab_size = 8000;
  std::string model_type = "unigram";  // unigram | bpe
  double character_coverage = 1.0;
  int64_t input_sentence_size = 2000000;  // sentences sampled for training; 0 = all
  int num_threads = 2;
  int seed = 1;
};

class Tokenizer {
 public:
  // Loads PATH (a .model file). Throws std::runtime_error naming the file when it cannot.
  explicit Tokenizer(const std::string& model_path);
  // Loads a model from its serialized bytes (a .model file's content, e.g. the copy a checkpoint embeds); `origin`
  // names it in error messages and is what path() returns.
  static std::unique_ptr<Tokenizer> from_bytes(std::string bytes, const std::string& origin);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  std::vector<int> encode(const std::string& text) const;
  std::string decode(const std::vector<int>& ids) const;  // special ids (pad/bos/eos) are dropped
  std::string piece(int id) const;
  int vocab_size() const { return vocab_size_; }
  int pad_id() const { return pad_; }
  int unk_id() const { return unk_; }
  int bos_id() const { return bos_; }
  int eos_id() const { return eos_; }
  const std::string& path() const { return path_; }  // the .model file, or the origin given to from_bytes
  // The serialized model (the bytes of its .model file): what checkpoints embed, so that they need no data.dir.
  const std::string& model_bytes() const { return bytes_; }

  // Trains a model with SentencePiece's own trainer; ids: pad 0, unk 1, bos 2, eos 3.
  static void train(const SpmTrainOptions& options);

 private:
  Tokenizer(std::string bytes, std::string origin);
  std::string path_, bytes_;
  void* handle_ = nullptr;
  int vocab_size_ = 0, pad_ = -1, unk_ = -1, bos_ = -1, eos_ = -1;
};

}  // namespace mqa
