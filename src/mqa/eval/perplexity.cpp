#include "mqa/eval/perplexity.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <stdexcept>

#include "mqa/train/autocast.h"
#include "mqa/data/position_fit.h"
#include "mqa/util/strings.h"

namespace mqa {

namespace {

// Puts the model in eval mode and restores its previous mode when it goes away.
class EvalMode {
 public:
  explicit EvalMode(Transformer& model) : model_(model), was_training_(model->is_training()) { model_->eval(); }
  ~EvalMode() { model_->train(was_training_); }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  Transformer& model_;
  bool was_training_;
};

}  // namespace

void finish_perplexity(PerplexityResult& r) {
  r.ln_ppl = r.tokens > 0 ? r.nll / static_cast<double>(r.tokens) : std::nan("");
  r.ppl = std::exp(r.ln_ppl);
}

PerplexityResult perplexity_of_batches(Transformer& model, const std::function<std::optional<Batch>()>& next,
                                       torch::ScalarType precision) {
  EvalMode eval_mode(model);
  torch::NoGradGuard no_grad;
  auto params = model->parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  PerplexityResult r;
  // Summed on the device: one host sync at the end, not one per batch.
  torch::Tensor nll_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
  torch::Tensor token_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
  while (auto batch = next()) {
    torch::Tensor src = batch->src.defined() ? batch->src.to(device) : torch::Tensor();
    torch::Tensor tgt_in = batch->tgt_in.to(device), tgt_out = batch->tgt_out.to(device);  // [B, T]
    torch::Tensor logits;                                                                  // [B, T, V]
    {
      Autocast autocast(device, precision);  // as the training step's forward; the log-softmax below is fp32
      logits = model->forward(src, tgt_in);
    }
    torch::Tensor lp = torch::log_softmax(logits.to(torch::kFloat), -1);
    torch::Tensor token_lp = lp.gather(2, tgt_out.unsqueeze(2)).squeeze(2);  // [B, T]
    torch::Tensor real = tgt_out.ne(model->pad_id());
    nll_sum -= token_lp.masked_fill(real.logical_not(), 0.0).sum().to(torch::kDouble);
    token_sum += real.sum();
    r.sequences += tgt_out.size(0);
  }
  r.nll = nll_sum.item<double>();
  r.tokens = token_sum.item<int64_t>();
  finish_perplexity(r);
  return r;
}

PerplexityResult perplexity(Transformer& model, std::shared_ptr<const Dataset> data, int64_t batch_tokens,
                            torch::ScalarType precision) {
  if (!data) throw std::invalid_argument("perplexity: no dataset");
  if (data->is_lm() == model->is_seq2seq())
    throw std::invalid_argument(fmt::format("perplexity: the dataset is {} but the model is {}",
                                            data->is_lm() ? "lm" : "seq2seq", model->config().type));
  // Pairs the model cannot take (prepared before every split was filtered, or for a longer model) are left out and
  // counted, rather than aborting in the embedding.
  int64_t too_long = 0;
  data = keep_fitting_examples(std::move(data), model->config().max_positions, &too_long);
  if (data->size() == 0)
    throw std::runtime_error(fmt::format("perplexity: none of the {} examples fits model.max_positions ({})",
                                         too_long, model->config().max_positions));
  BatchOptions options;
  options.batch_tokens = batch_tokens;
  options.shuffle = false;
  BatchIterator it(data, options);
  // One epoch: next() returns nullopt once at its end.
  PerplexityResult r = perplexity_of_batches(model, [&it] { return it.next(); }, precision);
  r.skipped_too_long = too_long;
  return r;
}

int64_t count_words_and_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read the raw text for per-word perplexity", path));
  int64_t count = 0;
  std::string line;
  while (std::getline(in, line))
    count += count_words(line) + 1;  // + the end of the line: the eos the model predicts (empty lines too)
  return count;
}

void add_word_perplexity(PerplexityResult& r, const std::string& raw_text_path) {
  r.words = count_words_and_lines(raw_text_path);
  if (r.words <= 0) throw std::runtime_error(fmt::format("{}: no words for per-word perplexity", raw_text_path));
  r.word_ppl = std::exp(r.nll / static_cast<double>(r.words));
}

}  // namespace mqa
