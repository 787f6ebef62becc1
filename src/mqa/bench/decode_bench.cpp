#include "mqa/bench/decode_bench.h"

#include <memory>
#include <vector>

#include "mqa/bench/cuda_graph.h"
#include "mqa/bench/kernel_profile.h"

namespace mqa::bench {

namespace {

// Static buffers and the decode step of one generation, gpt-fast style: everything the step touches is allocated
// here once, so the step can be captured and replayed.
class DecodeLoop {
 public:
  DecodeLoop(Transformer& model, const EncoderOutput& enc, const DecodeBenchOptions& o)
      : model_(model), o_(o), batch_(enc.memory.size(0)), rows_(batch_ * o.beams) {
    st_ = model->start(&enc, batch_, o.target_len, o.beams);
    st_.bucket = o.bucket;
    auto longs = enc.memory.options().dtype(torch::kLong);
    tokens_ = torch::empty({rows_}, longs);
    out_ = torch::zeros({rows_, o.target_len}, longs);
    scores_ = torch::empty({batch_, o.beams}, enc.memory.options().dtype(torch::kFloat32));
    first_row_ = (torch::arange(batch_, longs) * o.beams).unsqueeze(1);  // [B, 1]: row of each source's beam 0
  }

  DecodeState& state() { return st_; }
  const torch::Tensor& out() const { return out_; }
  const torch::Tensor& scores() const { return scores_; }

  // Before each generation, outside any graph.
  void reset() {
    tokens_.fill_(o_.bos);
    out_.zero_();
    // All beams of a source start identical: only beam 0 may be extended at the first step.
    scores_.fill_(-1e9);
    scores_.select(1, 0).fill_(0);
    st_.pos_tensor.zero_();
    st_.pos = 0;
  }

  // The hot path: feeds tokens_ at position st_.pos (pos_tensor on the device), writes the chosen tokens into
  // out_ and tokens_ (and for beam search reorders the caches and histories in place). Allocates nothing that
  // outlives the call.
  void decode_one_token() {
    auto logits = model_->step(st_, tokens_);  // [N, V]; advances pos, pos_tensor
    auto column = st_.pos_tensor - 1;          // [1]: the position just decoded
    if (o_.beams == 1) {
      auto next = logits.argmax(-1);  // [N]
      out_.index_copy_(1, column, next.view({rows_, 1}));
      tokens_.copy_(next);
      return;
    }
    const int64_t vocab = logits.size(1);
    auto logp = torch::log_softmax(logits.to(torch::kFloat32), -1);                       // [N, V]
    auto total = (scores_.view({rows_, 1}) + logp).view({batch_, o_.beams * vocab});      // [B, beams*V]
    auto top = total.topk(o_.beams, -1);                                                   // [B, beams] each
    auto& best = std::get<0>(top);
    auto& index = std::get<1>(top);
    auto from = torch::div(index, vocab, "floor");                                         // beam continued
    auto word = index - from * vocab;                                                      // token appended
    auto rows = (first_row_ + from).view({rows_});                                         // [N] survivor rows
    model_->reorder_in_place(st_, rows);
    out_.copy_(out_.index_select(0, rows));
    out_.index_copy_(1, column, word.view({rows_, 1}));
    tokens_.copy_(word.view({rows_}));
    scores_.copy_(best);
  }

  // T steps; the host position is set before each (it selects the bucket, hence the graph).
  void generate(GraphSet* graphs) {
    for (int64_t t = 0; t < o_.target_len; ++t) {
      st_.pos = t;
      if (graphs)
        graphs->replay(static_cast<size_t>(t / o_.bucket));
      else
        decode_one_token();
    }
  }

  // One graph per bucket of positions: captured at the bucket's first position (call after an eager warm-up).
  void capture(GraphSet& graphs) {
    for (int64_t first = 0; first < o_.target_len; first += o_.bucket) {
      st_.pos = first;
      graphs.capture([this] { decode_one_token(); });
    }
  }

 private:
  Transformer& model_;
  DecodeBenchOptions o_;
  int64_t batch_, rows_;
  DecodeState st_;
  torch::Tensor tokens_, out_, scores_, first_row_;
};

}  // namespace

DecodeBenchResult run_decode_bench(Transformer& model, const torch::Tensor& src, const DecodeBenchOptions& o) {
  TORCH_CHECK(o.beams >= 1 && o.target_len >= 1 && o.bucket >= 1 && o.repeats >= 1,
              "run_decode_bench: expected beams, target_len, bucket and repeats >= 1");
  torch::NoGradGuard no_grad;
  model->eval();
  const auto device = src.device();
  DecodeBenchResult result;
  with_side_stream(device, [&] {
    Timer timer(device);
    auto enc = model->encode(src);
    DecodeLoop loop(model, enc, o);

    // Encoder: the source through the encoder and the decoder's cross-attention K/V (once per source).
    auto encode = [&] { model->refill_source(loop.state(), model->encode(src)); };
    std::vector<double> enc_ms, dec_ms;
    for (int64_t i = 0; i < o.warmup; ++i) encode();
    for (int64_t i = 0; i < o.repeats; ++i) {
      timer.start();
      encode();
      enc_ms.push_back(timer.stop());
    }

    // One eager generation: warms up kernels and library handles on this stream before any capture, and gives
    // the tokens the graphs must reproduce.
    loop.reset();
    loop.generate(nullptr);
    auto eager_tokens = loop.out().clone();

    std::unique_ptr<GraphSet> graphs;
    if (o.cuda_graph && graphs_supported(device)) {
      try {
        graphs = std::make_unique<GraphSet>(device);
        loop.capture(*graphs);
      } catch (const std::exception& e) {  // report and time the eager step rather than lose the run
        graphs.reset();
        result.graph_error = e.what();
        synchronize(device);
      }
    }
    for (int64_t i = 0; i < o.warmup; ++i) {
      loop.reset();
      loop.generate(graphs.get());
    }
    for (int64_t i = 0; i < o.repeats; ++i) {
      loop.reset();
      timer.start();
      loop.generate(graphs.get());
      dec_ms.push_back(timer.stop());
    }
    synchronize(device);
    if (!o.profile_trace.empty()) {
      loop.reset();
      profile_kernels(device, [&] { loop.generate(graphs.get()); }, o.profile_trace);
    }
    result.encoder_ms = summarize(enc_ms);
    result.decoder_ms = summarize(dec_ms);
    result.graphs = graphs ? static_cast<int64_t>(graphs->size()) : 0;
    // The last generation (timed or profiled) against the eager one.
    if (graphs) result.graph_eager_agreement = loop.out().eq(eager_tokens).to(torch::kFloat64).mean().item<double>();
    result.tokens = loop.out().cpu();
    if (o.beams > 1) result.scores = loop.scores().cpu();
  });
  return result;
}

}  // namespace mqa::bench
