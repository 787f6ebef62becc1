// Checkpoints: one file per save, written atomically (temporary file, fsync, rename), holding the resolved config
// (YAML text), the model parameters, and for training checkpoints the optimizer, schedule, RNG and data-iterator
// state.
//
// File layout (a LibTorch serialize archive, read with torch::serialize::InputArchive):
//   format        "mqa-checkpoint-1"
//   kind          "train" (written by the trainer) | "average" (mqa average): model only
//   config        the resolved config as YAML (config_to_yaml), loadable by load_config; `mqa train` stores its
//                 data paths absolute (make_data_paths_absolute), so eval finds data.dir from any directory
//   vocab_size, pad_id, step, torch_version
//   vocab_model   the SentencePiece model's bytes (its .model file) as a uint8 tensor, so that decoding needs
//                 nothing beside the checkpoint; absent in checkpoints written before it was added (and when the
//                 writer had no vocabulary): load_model then reads data.dir/spm.model
//   model/        names ("\n"-joined parameter and buffer names) and t0 .. tN, the tensors in that order
//   optimizer/    the optimizer's own save() archive                              (train only)
//   train/        step, epoch, data_state, elapsed_s, tokens, schedule name, rng_cpu, rng_cuda, world_size,
//                 rng_cpu_ranks, rng_cuda_ranks (the last two for data-parallel runs)            (train only)
#pragma once
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "mqa/config/config.h"
#include "mqa/data/tokenizer.h"
#include "mqa/model/transformer.h"

namespace mqa {

// A model ready to use: its config, parameters on `device`, in eval mode, and its vocabulary.
struct ModelBundle {
  Config config;
  Transformer model{nullptr};
  std::shared_ptr<Tokenizer> vocab;
};

// Loads the model of a checkpoint (training or averaged). The vocabulary is, in this order: the file vocab_override
// names; the one embedded in the checkpoint; data.dir/spm.model of the stored config (checkpoints written before
// vocabularies were embedded). Throws naming the file when it is missing or malformed, and when no vocabulary is
// found says which one was looked for and how to pass one.
ModelBundle load_model(const std::string& checkpoint, const torch::Device& device,
                       const std::string& vocab_override = "");

// Builds an untrained model for a config (vocabulary size from model.vocab_size or the vocabulary).
Transformer build_model(const Config& config, int64_t vocab_size, int64_t pad_id);

// ---- training checkpoints ------------------------------------------------------------------------------------

// What a training checkpoint holds besides the model and the optimizer.
struct TrainState {
  int64_t step = 0;         // optimizer steps done
  int64_t epoch = 0;        // data epoch the iterator is in
  std::string data_state;   // BatchIterator::state(): the batches that come next
  std::string schedule;     // train.schedule, checked on resume (the rate itself is a function of step)
  double elapsed_s = 0;     // training wall time so far
  int64_t tokens = 0;       // target tokens trained on so far
  // train.stop_patience: the best dev ln(PPL) so far, and the validations since it last improved by more than
  // train.stop_min_delta.
  double dev_best = std::numeric_limits<double>::infinity();
  int64_t dev_stale = 0;
  torch::Tensor rng_cpu;    // the default CPU generator's state (init, dropout)
  torch::Tensor rng_cuda;   // the default CUDA generator's state, when training on CUDA; else undefined
  // Data-parallel runs (distributed.h). The data position above is every rank's (each takes its own batches of
  // one shared order), but dropout draws differ by rank, so every rank's generator states are kept.
  int64_t world_size = 1;        // ranks of the run that wrote it; resuming needs the same number
  torch::Tensor rng_cpu_ranks;   // [world_size, n]: row r is rank r's rng_cpu; undefined for one process
  torch::Tensor rng_cuda_ranks;  // [world_size, n]: the same for rng_cuda
};

// The RNG state of the default generators: CPU always, CUDA when `device` is CUDA.
void capture_rng(TrainState& state, const torch::Device& device);
void restore_rng(const TrainState& state, const torch::Device& device);

// Writes a checkpoint to `path` atomically: into a temporary file in the same directory, fsync'ed, renamed over
// `path`, then the directory fsync'ed. A crash at any moment leaves either the old file or the new one.
// `optimizer` and `state` are null for model-only checkpoints (kind "average"). `vocab_model` is the SentencePiece
// model's bytes (Tokenizer::model_bytes()), embedded when not empty.
void save_checkpoint(const std::string& path, const std::string& config_yaml, torch::nn::Module& model,
                     int64_t vocab_size, int64_t pad_id, torch::optim::Optimizer* optimizer, const TrainState* state,
                     const std::string& kind = "train", const std::string& vocab_model = "");

// save_checkpoint in two halves, for writing on a background thread (checkpoint_writer.h). checkpoint_archive builds
// what save_checkpoint writes; with copy_tensors, from copies of the model's and the optimizer's tensors (made on
// their device: on a GPU, ~1 ms for a 630-MB training state), so that the archive stays as it was while training
// goes on changing the originals. write_checkpoint_archive writes it to `path` atomically.
std::unique_ptr<torch::serialize::OutputArchive> checkpoint_archive(
    const std::string& config_yaml, torch::nn::Module& model, int64_t vocab_size, int64_t pad_id,
    torch::optim::Optimizer* optimizer, const TrainState* state, const std::string& kind,
    const std::string& vocab_model, bool copy_tensors);
void write_checkpoint_archive(const std::string& path, torch::serialize::OutputArchive& archive);

// Model tensors by name (parameters and buffers), as stored: for averaging and inspection.
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;
// Writes a model-only checkpoint from tensors (mqa average), atomically.
void save_model_tensors(const std::string& path, const std::string& config_yaml, const NamedTensors& tensors,
                        int64_t vocab_size, int64_t pad_id, int64_t step, const std::string& kind,
                        const std::string& vocab_model = "");

// An opened checkpoint file. Every accessor throws std::runtime_error naming the file when it is malformed.
class CheckpointFile {
 public:
  // Reads `path` with tensors mapped to `device`. Throws naming the file when it is missing or not a checkpoint.
  explicit CheckpointFile(const std::string& path, const torch::Device& device = torch::kCPU);
  const std::string& path() const { return path_; }
  const std::string& kind() const { return kind_; }
  const std::string& config_yaml() const { return config_yaml_; }
  // The stored config, parsed and validated (load_config on the stored text). Relative data paths (data.dir, the
  // raw text keys) are made absolute against the current directory, where they were always read from: a checkpoint
  // of a run that stored them relative resumes and averages with one that stored them absolute.
  Config config() const;
  // The embedded SentencePiece model's bytes; empty when the checkpoint has none (written before they were added).
  const std::string& vocab_model() const { return vocab_model_; }
  int64_t vocab_size() const { return vocab_size_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t step() const { return step_; }
  bool has_train_state() const { return kind_ == "train"; }

  NamedTensors model_tensors();
  // Copies the stored tensors into `model`'s parameters and buffers; names and shapes must match exactly (the
  // error lists what is missing, unexpected or of another shape).
  void load_model_into(torch::nn::Module& model);
  void load_optimizer_into(torch::optim::Optimizer& optimizer);
  TrainState train_state();

 private:
  std::string path_, kind_, config_yaml_, vocab_model_;
  int64_t vocab_size_ = 0, pad_id_ = 0, step_ = 0;
  torch::serialize::InputArchive archive_;
};

// Writes a file atomically: `write` fills the file descriptor it is given (the temporary file); then fsync,
// rename over `path`, fsync of the directory. On any error the temporary file is removed and the old `path` stays.
void write_file_atomically(const std::string& path, const std::function<void(int fd)>& write);

// Makes `link_path` another name of `target` (hard link, or a copy where links are not supported), atomically
// replacing what was there. Used for checkpoint_last.pt.
void link_atomically(const std::string& target, const std::string& link_path);

// Writes the element-wise mean of the model tensors of `inputs` (checkpoints of one model: model.* keys, data.dir,
// vocabulary size, embedded vocabulary and tensor names/shapes must agree, else an error naming both files and what
// differs) to `output`, a model-only checkpoint (kind "average") with the first one's config and vocabulary. Means
// are taken in fp64.
void average_checkpoints(const std::vector<std::string>& inputs, const std::string& output);

// Config keys under `prefixes` ("model.", "data.dir", ...) whose values differ between a and b, as "key: a vs b".
std::vector<std::string> differing_keys(const Config& a, const Config& b, const std::vector<std::string>& prefixes);

// Parses config YAML text (as stored in checkpoints); `origin` names it in error messages.
Config config_from_yaml_text(const std::string& yaml, const std::string& origin);

}  // namespace mqa
