// The decode engine: the one incremental decoder that translate, eval, generate and bench all run.
//
// It reads a Transformer's weights once into the form a decode step wants (in the compute dtype: bf16 on CUDA by
// default, fp32 on CPU): the self-attention's query, key and value projections as one matrix (one GEMM a layer),
// the cross-attention keys and values of every layer as one matrix (one GEMM per batch of sources). A step feeds
// one token per row through the decoder over the key/value caches (decode_ops.h: attention, residual + layer norm,
// embedding as CUDA kernels on CUDA, LibTorch ops elsewhere) and returns the logits. The searches (greedy_search.h,
// beam_search.h, sampling.h) choose tokens on the device after each step, so that the loop never waits for the
// host: `run` replays step + choice as one captured CUDA graph and asks the host every `check_every` steps only
// whether every row is done. Rows that finish keep their place (static shapes) until the batch ends.
//
// The training modules (model/) stay the reference: tests pin that the engine's logits equal the full forward.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "mqa/decode/cuda_graph.h"
#include "mqa/decode/decode_ops.h"
#include "mqa/decode/kv_cache.h"
#include "mqa/model/transformer.h"

namespace mqa {

struct EngineOptions {
  torch::ScalarType dtype = torch::kFloat32;  // of the decoder's weights, activations and caches
  bool cuda_graphs = true;                    // replay step + choice as a captured graph (CUDA, kernel path)
  int64_t check_every = 16;                   // steps between the host's checks whether every row is done
};

// dtype = precision (mqa::resolve_precision: bf16 on CUDA, fp32 on CPU for "auto").
EngineOptions engine_options(torch::ScalarType precision);

// The state of one batch being decoded: N = sources x rows_per_source rows. Buffers are allocated once per shape
// and refilled in place, so that a graph captured on one batch replays on the next of the same shape.
struct DecodeBatch {
  int64_t sources = 0, rows_per_source = 1, max_len = 0, source_len = 0;
  std::vector<KVCache> self;  // per decoder layer: [N, g, max_len, d]
  torch::Tensor cross_kv;     // [layers, B, S, g * (d_k + d_v)]: every layer's cross-attention keys and values
  torch::Tensor src_lengths;  // [B] long
  torch::Tensor src_padding;  // [B, S] bool, true = padded
  torch::Tensor tokens;       // [N] long: the tokens the next step feeds
  torch::Tensor pos;          // [N] long: their positions
  torch::Tensor start;        // [N] long: pos at the step that predicts a row's first output (step t = pos - start)
  // Beam search on the kernel path: [N, max_len] int32, the physical cache row that holds position p of row r
  // (kv_cache.h). Undefined otherwise.
  torch::Tensor table;
  decode_ops::HostRange host;  // smallest and largest pos, mirrored on the host for the LibTorch path
  int64_t rows() const { return tokens.defined() ? tokens.size(0) : 0; }
};

class DecodeEngine {
 public:
  DecodeEngine(Transformer model, const EngineOptions& options);

  Transformer& model() { return model_; }
  const EngineOptions& options() const { return options_; }
  torch::Device device() const { return device_; }
  // Whether the CUDA kernels run (bf16 on CUDA in a build that has them), and with them the captured graphs.
  bool kernel_path() const { return kernel_path_; }

  // Seq2seq: encodes src [B, S] (right-padded with the model's pad id, on the engine's device) and prepares `batch`
  // for B * rows_per_source rows of up to max_len positions, fed `bos` first. Reuses the batch's buffers when their
  // shape matches. `beams` > 1 keeps a reorder table (kernel path).
  void start_sources(DecodeBatch& batch, const torch::Tensor& src, int64_t rows_per_source, int64_t max_len,
                     int64_t bos, bool beams);
  // Language model: the prompts (each at least one token) go through the decoder in one forward pass (prefill),
  // filling the caches; returns the logits after each prompt's last token [N, V] and leaves pos at that token.
  torch::Tensor start_prompts(DecodeBatch& batch, const std::vector<std::vector<int64_t>>& prompts, int64_t max_len);

  // One step: feeds batch.tokens at batch.pos through the decoder (writing the caches) and returns the logits
  // [N, V]. Device work only: no host synchronisation, so that it can be captured. Does not advance pos (the
  // search's choice does).
  torch::Tensor step(DecodeBatch& batch);
  // Beam search, after a step and before pos advances: row r continues the history of row parents[r] ([N] long).
  void reorder(DecodeBatch& batch, const torch::Tensor& parents);
  // pos += 1 on the device and on the host mirror: for callers that feed tokens themselves (teacher forcing, tests);
  // the searches advance pos in their device-side choice and `run` keeps the mirror.
  void advance(DecodeBatch& batch);

  // Runs `step_and_choose` (step + the search's device-side update, which advances pos) up to max_steps times:
  // once eagerly, then (kernel path, graphs on) as a CUDA graph captured into `graph` and replayed; a graph already
  // in `graph` (captured on an earlier batch of the same buffers) is replayed from the first step. Every
  // check_every steps (the only host synchronisation of the loop) it calls `stop(steps run so far)` and stops when
  // that returns true. Returns the steps run. Call inside on_stream().
  int64_t run(DecodeBatch& batch, std::unique_ptr<GraphSet>& graph, const std::function<void()>& step_and_choose,
              const std::function<bool(int64_t)>& stop, int64_t max_steps);
  // Runs fn on the stream decoding uses (a side stream on CUDA, which graph capture needs), with no grad and the
  // model in eval mode.
  void on_stream(const std::function<void()>& fn);

  // Why graph capture was given up (empty when it never failed); the engine then runs eagerly.
  const std::string& graph_error() const { return graph_error_; }

 private:
  struct Layer {
    torch::Tensor norm1_w, norm1_b, qkv, o;  // qkv [h*d_k + g*d_k + g*d_v, D], o [D, h*d_v]
    torch::Tensor norm2_w, norm2_b, cross_q, cross_o;
    torch::Tensor norm3_w, norm3_b, w1, b1, w2, b2;
  };
  // The decoder over rows x [M, D] (M = N for a step, N * P for a prefill); self_attend(layer, qkv) returns the
  // self-attention of the rows ([M, h*d_v]) from their fused projections. Returns the logits' input [M, D].
  torch::Tensor decoder(torch::Tensor x, DecodeBatch* cross,
                        const std::function<torch::Tensor(int64_t, const torch::Tensor&)>& self_attend);
  void allocate(DecodeBatch& batch, int64_t sources, int64_t rows_per_source, int64_t max_len, int64_t source_len,
                bool table);

  Transformer model_;
  EngineOptions options_;
  torch::Device device_;
  bool kernel_path_ = false;
  bool pre_norm_ = true;
  double norm_eps_ = 1e-5;
  decode_ops::AttentionShape self_shape_, cross_shape_;
  std::vector<Layer> layers_;
  torch::Tensor cross_kv_;                   // [layers * g * (d_k + d_v), D]
  torch::Tensor embedding_, positions_;      // [V, D], [max_positions, D]
  torch::Tensor final_w_, final_b_;          // pre-norm's last layer norm
  torch::Tensor output_;                     // [V, D]
  double embed_scale_ = 1;
  std::string graph_error_;
};

}  // namespace mqa
